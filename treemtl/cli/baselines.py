"""``treemtl baselines``: the methods the recommender is compared with, and the comparison tables.

* ``baselines what-to-share`` — RSA task affinity of the single-task models and the dissimilarity
  cost of every layout (lower = better; ``score`` = -cost), plus the pick per budget;
* ``baselines task-grouping`` — whole-backbone task groups from the two-task table (partitions,
  and Standley's overlapping covers), the score of every "groups" layout and the pick per budget;
* ``baselines compare`` — paper-style Tables 1-4 and figures from a results folder;
* the searched baselines (Learning to Branch, AutoMTL): :mod:`treemtl.cli.searched_baselines`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from treemtl.atomic import write_json_atomic, write_text_atomic
from treemtl.training.config import ExperimentConfig, load_config
from treemtl.errors import TreeMTLError
from treemtl.results_tree import ResultsTree
from treemtl.cli.searched_baselines import register_searched


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("baselines", help="What-to-Share, Task-Grouping and the comparison tables")
    commands = parser.add_subparsers(dest="baselines_command", required=True, parser_class=type(parser))

    wts = commands.add_parser("what-to-share", help="RSA task affinity and layout dissimilarity cost (Vandenhende et al.)")
    wts.add_argument("--config", required=True, help="experiment config YAML")
    wts.add_argument("--results", required=True, help="results folder holding single/<task>/model.pt")
    wts.add_argument("--profile", default=None, help="blocks.json (per-block FLOPs for budgets; default: uniform blocks)")
    wts.add_argument("--images", type=int, default=None, help="K held-out images (default: baselines.what_to_share.images)")
    wts.add_argument("--device", default="cpu", help="torch device for the feature extraction (default cpu)")
    wts.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    wts.add_argument("--out", required=True, help="per-layout CSV (id, layout, cost, score, flops_pct, params_pct)")
    wts.add_argument("--affinity", default=None, help="JSON with the affinity tensor and the pick per budget")
    wts.set_defaults(func=run_what_to_share)

    tg = commands.add_parser("task-grouping", help="whole-backbone task groups (Standley et al.)")
    tg.add_argument("--config", required=True, help="experiment config YAML")
    tg.add_argument("--table", required=True, help="two-task table (tidy CSV or the authors' wide CSV/XLSX)")
    tg.add_argument("--out", required=True, help="CSV with the predicted score of every 'groups' layout")
    tg.add_argument("--choices", default=None, help="JSON with the chosen grouping per budget")
    tg.set_defaults(func=run_task_grouping)

    cmp_ = commands.add_parser("compare", help="paper-style comparison tables (1-4) and figures")
    cmp_.add_argument("--config", required=True, help="experiment config YAML")
    cmp_.add_argument("--results", required=True, help="results folder")
    cmp_.add_argument("--out", required=True, help="output folder (table*.md/.csv/.tex, *.png)")
    cmp_.add_argument("--top", type=int, default=5, help="rows of Table 1 (default 5)")
    cmp_.set_defaults(func=run_compare)

    ids = commands.add_parser("models", help="layout ids the comparison tables show (to train the missing ones)")
    ids.add_argument("--config", required=True, help="experiment config YAML")
    ids.add_argument("--results", required=True, help="results folder")
    ids.add_argument("--top", type=int, default=5, help="rows of Table 1 (default 5)")
    ids.add_argument("--out", required=True, help="JSON list of layout ids")
    ids.set_defaults(func=run_models)

    register_searched(commands)


def _budget_masks(config: ExperimentConfig, profile_path: str | None) -> tuple[dict[float, np.ndarray], Any]:
    """Per-budget feasibility over all layout ids, and the cost arrays, from a blocks.json profile."""
    from treemtl.core.cost import BlockProfile, layout_costs, parse_budget
    from treemtl.core.layout import layout_space

    num_tasks, num_blocks = len(config.tasks), config.backbone.blocks
    profile = BlockProfile.for_blocks(profile_path, num_blocks)
    costs = layout_costs(layout_space(num_tasks, num_blocks).copies(), profile, num_tasks)
    return {float(b): parse_budget(f"{b}models").mask(costs) for b in config.recommend.budgets}, costs


# --------------------------------------------------------------------------- What-to-Share
def _held_out_images(config: ExperimentConfig, count: int) -> Any:
    """K validation images, a seeded subset so every task's model sees the same ones."""
    import torch

    from treemtl.training.data import build_dataset

    dataset = build_dataset(config, "val", config.tasks[:1])
    if len(dataset) < 2:
        raise TreeMTLError(f"What-to-Share: the validation split has {len(dataset)} images; need at least 2")
    count = min(count, len(dataset))
    picks = np.sort(np.random.default_rng(config.seed).choice(len(dataset), size=count, replace=False))
    return torch.stack([dataset[int(i)]["image"] for i in picks])


def run_what_to_share(args: argparse.Namespace) -> int:
    from treemtl.evaluation.baselines.what_to_share import affinity_from_features, best_within_budget, dissimilarity_costs, extract_block_features
    from treemtl.core.layout import enumerate_layouts
    from treemtl.training.devices import use_threads
    from treemtl.training.trainer import load_trained

    config = load_config(args.config)
    use_threads(args.threads)
    count = args.images if args.images is not None else int(config.baselines.what_to_share.get("images", 64))
    if count < 3:
        raise TreeMTLError(f"What-to-Share: expected at least 3 images, got {count}")
    images = _held_out_images(config, count)
    features = {}
    tree = ResultsTree(Path(args.results))
    for task in config.tasks:
        checkpoint = tree.single_model(task)
        if not checkpoint.is_file():
            raise TreeMTLError(f"{checkpoint}: single-task model not found (What-to-Share compares the single-task models)")
        trained = load_trained(checkpoint, device=args.device)
        features[task] = extract_block_features(trained.model, images.to(args.device))
        if len(features[task]) != config.backbone.blocks:
            raise TreeMTLError(f"{checkpoint}: {len(features[task])} blocks, config has backbone.blocks = {config.backbone.blocks}")
    affinity = affinity_from_features(features, config.tasks)
    dissimilarity = 1.0 - affinity
    layouts = enumerate_layouts(len(config.tasks), config.backbone.blocks)
    costs = dissimilarity_costs(layouts, dissimilarity)
    masks, layout_cost = _budget_masks(config, args.profile)
    frame = pd.DataFrame({
        "id": range(len(layouts)),
        "layout": [layout.format() for layout in layouts],
        "cost": costs,
        "score": 0.0 - costs,
        "flops_pct": layout_cost.flops_pct,
        "params_pct": layout_cost.params_pct,
    })
    write_text_atomic(args.out, frame.to_csv(index=False))
    choices = []
    for budget, mask in masks.items():
        pick = best_within_budget(costs, mask, budget)
        choices.append({"budget": budget, "id": pick.layout_id, "cost": pick.cost,
                        "layout": None if pick.layout_id is None else layouts[pick.layout_id].format()})
    if args.affinity:
        write_json_atomic(args.affinity, {
            "tasks": list(config.tasks),
            "images": int(images.shape[0]),
            "locations": "output of each coarse block b = 0..B-1 of the single-task models",
            "affinity": np.round(affinity, 6).tolist(),
            "choices": choices,
        })
    best = ", ".join(f"{c['budget']:g}: #{c['id']}" for c in choices)
    print(f"what-to-share: {len(layouts)} layouts ranked; picks per budget {best} -> {args.out}")
    return 0


# --------------------------------------------------------------------------- Task-Grouping
def run_task_grouping(args: argparse.Namespace) -> int:
    from treemtl.evaluation.baselines.task_grouping import all_shared_gains, best_cover, best_partition, budget_groups, grouping_of, grouping_score
    from treemtl.core.estimator import load_two_task_table
    from treemtl.core.layout import Layout, enumerate_layouts, layout_id

    config = load_config(args.config)
    tasks = config.tasks
    table = load_two_task_table(args.table, task_names=tasks, num_blocks=config.backbone.blocks)
    if tuple(table.tasks) != tuple(tasks):
        table = table.renamed(tasks)
    gains = all_shared_gains(table)
    num_blocks = config.backbone.blocks

    def names(grouping: Any) -> list[list[str]]:
        return [[tasks[t] for t in group] for group in grouping]

    rows = []
    for i, layout in enumerate(enumerate_layouts(len(tasks), num_blocks)):
        grouping = grouping_of(layout.blocks)
        if grouping is not None:
            rows.append({"id": i, "layout": layout.format(), "groups": len(grouping),
                         "grouping": " + ".join("/".join(g) for g in names(grouping)),
                         "score": grouping_score(grouping, gains)})
    write_text_atomic(args.out, pd.DataFrame(rows).to_csv(index=False))
    choices = []
    for budget in config.recommend.budgets:
        k = budget_groups(budget)
        entry: dict[str, Any] = {"budget": float(budget), "backbones": k}
        if k >= 1:
            part = best_partition(gains, k)
            layout = Layout(tuple([part.grouping] * num_blocks))
            entry["partition"] = {"grouping": names(part.grouping), "score": part.score,
                                  "id": layout_id(layout), "layout": layout.format()}
            cover = best_cover(gains, k)
            entry["cover"] = {"grouping": names(cover.grouping), "score": cover.score}
        choices.append(entry)
    if args.choices:
        write_json_atomic(args.choices, {"tasks": list(tasks), "gains_all_shared": np.round(gains, 6).tolist(), "choices": choices})
    best = ", ".join(f"{c['budget']:g}: #{c['partition']['id']}" for c in choices if "partition" in c)
    print(f"task-grouping: picks per budget {best} -> {args.out}")
    return 0


# --------------------------------------------------------------------------- compare
def run_compare(args: argparse.Namespace) -> int:
    from treemtl.evaluation.report.comparison import write_comparison

    config = load_config(args.config)
    paths = write_comparison(config, args.results, args.out, top=args.top)
    print(f"comparison: {len(paths)} files -> {args.out}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    from treemtl.evaluation.report.comparison import Context, needed_ids

    config = load_config(args.config)
    ids = needed_ids(Context(config, args.results), top=args.top)
    write_json_atomic(args.out, ids)
    print(f"comparison models: {len(ids)} layouts -> {args.out}")
    return 0
