"""Every two-task-table strategy x score weighting on the 3-task synthetic benchmark, over unseen sets.

For each scene/seed set (``--sets``; set s renders scenes with ``data.synthetic.seed = s`` and
trains with seeds 1000·s + ..., none of them the shipped configs' draw), the base experiment
(``config/bench_synthetic3.yaml``: every pair and single with four seeds) also trains the oracle;
every other strategy trains only its own two-task table on the same rendered scenes and is
scored against the *same* oracle trainings. Written to ``--out``:

* ``strategies.csv`` / ``strategies.md``: one row per strategy and weighting — training
  CPU-seconds of the table's single/pair trainings (the rules' benchmark files, mean over sets,
  and in % of the base), Pearson / Spearman / Kendall γ (mean and range over sets), regret@1 and
  regret@k per budget (mean and max over sets);
* ``oracle_reliability.csv``: per set, the correlation of the two oracle seeds' Δt over the
  layouts and the reliability of their mean (Spearman-Brown), i.e. how high a γ the oracle's own
  noise allows;
* ``resampled.csv`` (and ``resampled_draws.csv``, one row per draw): every table a cheaper recipe
  could have drawn from the base's four runs of each model — n of the four seeds of the pairs,
  the same seeds or all four of the singles, every branch point or 1,3,5 — scored the same way.
  One trained experiment per strategy is one draw of its seeds; the C(4, n) draws per set show
  how far a recipe's γ varies with the luck of its seeds.

Full size takes 42 to 65 minutes per set on 2 CPU cores. ``--scale smoke`` shrinks data, iterations
and the oracle sample to prove the pipeline end to end in minutes; its figures mean nothing.
``--evaluate-only`` trains nothing: it scores what earlier runs trained (sets run one by one, or on
other machines, summarised in one table) and stops at the first missing target.

    .venv/bin/python scripts/strategy_benchmark.py --sets 1 2 3 4 --cores 2
    .venv/bin/python scripts/strategy_benchmark.py --sets 1 2 3 4 --evaluate-only
    make strategy-benchmark SETS="1 2 3 4"
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BASE_CONFIG = REPO / "config" / "bench_synthetic3.yaml"

#: Strategy name -> changes to the base config (``repeat_seeds`` is filled per set).
STRATEGIES: dict[str, dict[str, Any]] = {
    "full, 4 seeds (base)": {"pairs": {"strategy": "full", "repeat_seeds_for": "all"}, "repeats": 3},
    "full, 1 seed": {"pairs": {"strategy": "full"}, "repeats": 0},
    "full, 4 seeds of singles": {"pairs": {"strategy": "full", "repeat_seeds_for": "singles"}, "repeats": 3},
    "warm_start 0.25, 4 seeds of singles": {"pairs": {"strategy": "warm_start", "fraction": 0.25,
                                                      "repeat_seeds_for": "singles"}, "repeats": 3},
    "short 0.25, 4 seeds": {"pairs": {"strategy": "short", "fraction": 0.25, "repeat_seeds_for": "all"}, "repeats": 3},
    "branches 1,3,5, 4 seeds of singles": {"pairs": {"strategy": "full", "branches": [1, 3, 5],
                                                     "repeat_seeds_for": "singles"}, "repeats": 3},
    "branches 1,3,5, 2 seeds (preset)": {"pairs": {"strategy": "full", "branches": [1, 3, 5],
                                                   "repeat_seeds_for": "all"}, "repeats": 1},
}
BASE = next(iter(STRATEGIES))
WEIGHTINGS = ("svde", "equal")
#: What ``--scale smoke`` changes: tiny data, a few iterations, a sample of the oracle layouts.
SMOKE = {
    "data": {"synthetic": {"n_train": 64, "n_val": 32, "size": 32}},
    "backbone": {"input_size": [3, 32, 32]},
    "train": {"iters": 4, "batch_size": 16, "eval_every": 4, "checkpoint_every": 4, "lr_step": 2},
    "oracle": {"sample": 12},
}


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, Mapping) else value
    return out


@dataclass(frozen=True)
class Run:
    """One strategy on one set: its experiment name, config file and what snakemake must build."""

    set_id: int
    strategy: str
    experiment: str
    configfile: Path
    target: str


def experiment_name(set_id: int, strategy: str) -> str:
    slug = "".join(c if c.isalnum() else "_" for c in strategy.split(",")[0] + "_" + str(list(STRATEGIES).index(strategy)))
    return f"strategies_set{set_id}_{slug}"


def results_of(workdir: Path, run: Run) -> Any:
    """The :class:`~treemtl.results_tree.ResultsTree` of ``run``'s experiment under ``workdir``."""
    from treemtl.results_tree import ResultsTree

    return ResultsTree(workdir / ResultsTree.of_experiment(run.experiment).root)


def make_run(workdir: Path, set_id: int, strategy: str, scale: str) -> Run:
    """The config of ``strategy`` on set ``set_id``; the base also trains the oracle."""
    from treemtl.results_tree import ResultsTree

    config = yaml.safe_load(BASE_CONFIG.read_text())
    if scale == "smoke":
        config = _merge(config, SMOKE)
    changes = dict(STRATEGIES[strategy])
    repeats = changes.pop("repeats")
    seed = 1000 * set_id
    experiment = experiment_name(set_id, strategy)
    config = _merge(config, changes)
    config.update(experiment=experiment, seed=seed, repeat_seeds=[seed + r for r in range(1, repeats + 1)])
    config["data"]["synthetic"]["seed"] = set_id
    config["oracle"]["seeds"] = [seed + 10, seed + 11]
    base_tree = ResultsTree.of_experiment(experiment_name(set_id, BASE))
    if strategy != BASE:
        config["data"]["root"] = str((workdir / base_tree.data_dir).resolve())  # the same rendered scenes
    tree = ResultsTree.of_experiment(experiment)
    target = tree.oracle_correlation if strategy == BASE else tree.two_task_table
    configfile = workdir / tree.root / "benchmark_config.yaml"  # the experiment's input, beside its results
    configfile.parent.mkdir(parents=True, exist_ok=True)
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return Run(set_id, strategy, experiment, configfile, str(target))


def require_trained(workdir: Path, run: Run) -> None:
    """``--evaluate-only``: stop, naming it, when ``run``'s target was never built."""
    if not (workdir / run.target).is_file():
        sys.exit(f"--evaluate-only: {run.strategy} on set {run.set_id} is not trained ({workdir / run.target} "
                 f"is missing); run the benchmark without --evaluate-only for set {run.set_id}")


def snakemake(workdir: Path, run: Run, cores: str) -> None:
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    command = [str(BIN / "snakemake"), "--snakefile", str(REPO / "workflow" / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(run.configfile), "--cores", str(cores), run.target]
    print(f"[set {run.set_id}] {run.strategy}: snakemake {run.target}", flush=True)
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"snakemake failed for {run.experiment}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def benchmark_cpu_seconds(path: Path) -> float:
    """CPU-seconds in one Snakemake benchmark file (0 where the rule could not measure them)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    values = [row.get("cpu_time") or row.get("s") or "0" for row in rows]
    return sum(float(v) for v in values if v not in ("", "NA", "-"))


def training_cpu_seconds(results: Path) -> float:
    """CPU-seconds of every single- and two-task training of the table (benchmarks/{single,pairs,short}/)."""
    return sum(benchmark_cpu_seconds(path) for folder in ("single", "pairs", "short")
               for path in (results / "benchmarks" / folder).rglob("*.tsv"))


def oracle_of(workdir: Path, run: Run) -> tuple[dict[int, float], float | None, Any]:
    """Real Δt per oracle layout (mean over its seeds), the two seeds' Pearson r, and the config."""
    from treemtl.cli.oracle import read_sample, real_results
    from treemtl.evaluation.oracle import real_deltas
    from treemtl.training.config import load_config

    config = load_config(run.configfile)
    tree = results_of(workdir, run)
    per_seed, _ = real_results(config, tree.root, read_sample(tree.oracle_sample), allow_missing=False)
    first, second = config.oracle.seeds[:2]
    ids = sorted(i for i in per_seed if first in per_seed[i] and second in per_seed[i])
    a = np.array([per_seed[i][first] for i in ids])
    b = np.array([per_seed[i][second] for i in ids])
    r = float(np.corrcoef(a, b)[0, 1]) if len(ids) > 2 and a.std() > 0 and b.std() > 0 else None
    return real_deltas(per_seed), r, config


@dataclass(frozen=True)
class Scoring:
    """What every table of one set is scored against: the base's oracle, its design space and budgets."""

    tasks: tuple[str, ...]
    blocks: int
    space: Any
    real: Mapping[int, float]
    masks: Mapping[float, np.ndarray]
    seed: int
    top_k: int


def scoring_of(workdir: Path, base: Run, real: Mapping[int, float], config: Any, top_k: int) -> Scoring:
    from treemtl.core.cost import BlockProfile, layout_costs, parse_budget
    from treemtl.core.layout import layout_space

    base_tree = results_of(workdir, base)
    tasks, blocks = tuple(config.tasks), config.backbone.blocks
    space = layout_space(len(tasks), blocks)
    profile = BlockProfile.for_blocks(str(base_tree.blocks_json), blocks)
    costs = layout_costs(space.copies(), profile, len(tasks))
    masks = {float(b): parse_budget(f"{b}models").mask(costs) for b in config.recommend.budgets}
    return Scoring(tasks, blocks, space, real, masks, config.seed, top_k)


def score(table: Any, scoring: Scoring) -> dict[str, dict[str, float]]:
    """Per weighting: Pearson / Spearman / Kendall γ and regret@1 / @k per budget of ``table``'s ranking."""
    from treemtl.core.estimator import estimate_tasks
    from treemtl.core.weighting import parse_weighting
    from treemtl.evaluation.weighting_comparison import compare_weightings

    estimates = estimate_tasks(table, scoring.space)
    compared = compare_weightings(table, estimates, scoring.real, scoring.masks,
                                  [parse_weighting(w) for w in WEIGHTINGS], resamples=0, seed=scoring.seed,
                                  top_k=scoring.top_k)
    out = {}
    for name, result in compared.items():
        row = {method: entry["value"] for method, entry in result["correlation"].items()}
        for item in result["regret"]:
            row[f"regret@1 {item['budget']:g}"] = item["regret_top1"]
            row[f"regret@{scoring.top_k} {item['budget']:g}"] = item["regret_topk"]
        out[name] = row
    return out


def evaluate(workdir: Path, run: Run, scoring: Scoring) -> list[dict[str, Any]]:
    """One row per weighting: γ and regret of ``run``'s table against its set's oracle."""
    from treemtl.core.estimator import load_two_task_table

    tree = results_of(workdir, run)
    table = load_two_task_table(tree.two_task_table, scoring.tasks, scoring.blocks)
    cpu = training_cpu_seconds(tree.root)
    return [{"set": run.set_id, "strategy": run.strategy, "weighting": name, "cpu_s": cpu, **row}
            for name, row in score(table, scoring).items()]


#: The seed draws of the resampling: how many of the base's four runs of each pair and of each
#: single a table uses ("all" singles = four, whatever the pairs use), and its branch points.
RESAMPLED = [(pairs, singles, branches) for branches in (None, (1, 3, 5))
             for pairs in (1, 2, 3, 4) for singles in ("same", "all")
             if not (pairs == 4 and singles == "all")]


def resample(workdir: Path, base: Run, config: Any, scoring: Scoring) -> list[dict[str, Any]]:
    """Every table a cheaper recipe could have drawn from the base's four seeds, scored.

    One trained experiment per strategy is one draw of its seeds; the base holds four runs of every
    single and pair, so each subset of them is a table that recipe could have measured (C(4, n)
    draws of n seeds). CPU-seconds are those of the runs the draw uses (the base's benchmark files).
    """
    from itertools import combinations

    from treemtl.core.estimator import from_tidy_frame
    from treemtl.evaluation.two_task_table import table_from_runs
    from treemtl.results_tree import pair_name

    tree = results_of(workdir, base)
    runs: list[int | None] = [None, *config.repeat_seeds]

    def cpu(single_runs: Sequence[int | None], pair_runs: Sequence[int | None], points: Sequence[int]) -> float:
        names = [f"single/{t}" + (f"/seed{r}" if r is not None else "") for t in scoring.tasks for r in single_runs]
        names += [f"pairs/{pair_name(a, b)}/branch{k}" + (f"/seed{r}" if r is not None else "")
                  for a, b in combinations(scoring.tasks, 2) for k in points for r in pair_runs]
        return sum(benchmark_cpu_seconds(tree.benchmark(name)) for name in names)

    rows = []
    for pairs, singles, branches in RESAMPLED:
        points = list(branches or range(1, scoring.blocks + 1))
        for draw in combinations(runs, pairs):
            single_runs = runs if singles == "all" else list(draw)
            frame = table_from_runs(tree.root, scoring.tasks, scoring.blocks, single_runs, list(draw), config,
                                    branches)
            table = from_tidy_frame(frame, f"{base.experiment} seeds {draw}", scoring.tasks)
            recipe = {"set": base.set_id, "pair seeds": pairs, "single seeds": len(single_runs),
                      "branches": ",".join(map(str, points)), "draw": " ".join("main" if r is None else str(r) for r in draw),
                      "cpu_s": cpu(single_runs, draw, points)}
            rows += [{**recipe, "weighting": name, **row} for name, row in score(table, scoring).items()]
    return rows


def summarise_resampling(rows: pd.DataFrame, base_cpu: float) -> pd.DataFrame:
    """Per recipe and weighting: γ over every draw of every set (mean, 10th percentile, min), the
    share of draws at γ >= 0.7, the worst regret@k per budget, and compute in % of the base."""
    keys = ["pair seeds", "single seeds", "branches", "weighting"]
    out = []
    for key, group in rows.groupby(keys, sort=False):
        pearson = group["pearson"].astype(float)
        entry: dict[str, Any] = dict(zip(keys, key))
        entry.update({"draws": len(group), "% of base": 100.0 * group["cpu_s"].mean() / base_cpu,
                      "pearson mean": pearson.mean(), "pearson p10": pearson.quantile(0.1),
                      "pearson min": pearson.min(), "share >= 0.7": float((pearson >= 0.7).mean()),
                      "spearman mean": group["spearman"].astype(float).mean()})
        for column in [c for c in rows.columns if c.startswith("regret@") and not c.startswith("regret@1 ")]:
            entry[f"{column} max"] = group[column].astype(float).max()
        out.append(entry)
    return pd.DataFrame(out).sort_values(["weighting", "% of base"], kind="stable")


def base_cpu_seconds(rows: pd.DataFrame) -> float:
    """The base's table training CPU-seconds, mean over sets: what "% of base" divides by."""
    return float(rows[rows["strategy"] == BASE].groupby("set")["cpu_s"].first().mean())


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and range over sets per strategy and weighting; compute in % of the base."""
    base_cpu = base_cpu_seconds(rows)
    out = []
    for (strategy, weighting), group in rows.groupby(["strategy", "weighting"], sort=False):
        entry: dict[str, Any] = {"strategy": strategy, "weighting": weighting, "sets": len(group),
                                 "training CPU-s": group["cpu_s"].mean(),
                                 "% of base": 100.0 * group["cpu_s"].mean() / base_cpu if base_cpu else None}
        for method in ("pearson", "spearman", "kendall"):
            values = group[method].astype(float)
            entry[f"{method} mean"] = values.mean()
            entry[f"{method} range"] = f"{values.min():.3f}..{values.max():.3f}"
        for column in [c for c in rows.columns if c.startswith("regret@")]:
            entry[f"{column} mean"] = group[column].astype(float).mean()
            entry[f"{column} max"] = group[column].astype(float).max()
        out.append(entry)
    return pd.DataFrame(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, nargs="+", default=[1, 2, 3, 4], help="scene/seed sets (>= 1; default 1 2 3 4)")
    parser.add_argument("--scale", choices=("full", "smoke"), default="full",
                        help="full = config/bench_synthetic3.yaml's recipe; smoke = tiny data and iterations")
    parser.add_argument("--cores", default="all", help="snakemake --cores (default all)")
    parser.add_argument("--workdir", type=Path, default=REPO, help="where results/<experiment>/ go (default: the repo)")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "strategy_benchmark")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--evaluate-only", action="store_true",
                        help="train nothing: score the experiments earlier runs trained")
    args = parser.parse_args(argv)
    if any(s < 1 for s in args.sets):
        parser.error("--sets: set 0 is the shipped configs' draw; use sets >= 1")
    from treemtl.atomic import write_text_atomic
    from treemtl.evaluation.report.tables import to_markdown

    workdir = args.workdir.resolve()
    rows: list[dict[str, Any]] = []
    resampled: list[dict[str, Any]] = []
    reliability = []
    for set_id in args.sets:
        runs = [make_run(workdir, set_id, strategy, args.scale) for strategy in STRATEGIES]
        for run in runs:
            if args.evaluate_only:
                require_trained(workdir, run)
            else:
                snakemake(workdir, run, args.cores)
        real, r, config = oracle_of(workdir, runs[0])
        reliability.append({"set": set_id, "oracle layouts": len(real), "seed-to-seed r": r,
                            # Spearman-Brown; undefined when the seeds do not agree at all
                            "reliability of the 2-seed mean": None if r is None or r <= 0 else 2 * r / (1 + r)})
        scoring = scoring_of(workdir, runs[0], real, config, args.top_k)
        for run in runs:
            rows += evaluate(workdir, run, scoring)
        resampled += resample(workdir, runs[0], config, scoring)
    frame = pd.DataFrame(rows)
    summary = summarise(frame)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "per_set.csv", index=False)
    summary.to_csv(args.out / "strategies.csv", index=False)
    pd.DataFrame(reliability).to_csv(args.out / "oracle_reliability.csv", index=False)
    resampled_frame = pd.DataFrame(resampled)
    resampled_frame.to_csv(args.out / "resampled_draws.csv", index=False)
    resampling = summarise_resampling(resampled_frame, base_cpu_seconds(frame))
    resampling.to_csv(args.out / "resampled.csv", index=False)
    note = "smoke-test size: the figures below only prove the pipeline runs" if args.scale == "smoke" else "full size"
    text = (f"# Two-task table strategies x weightings ({note}; sets {', '.join(map(str, args.sets))})\n\n"
            + to_markdown(summary, {c: "{:.3f}" for c in summary.columns if summary[c].dtype.kind == "f"})
            + "\n\n## Oracle seed-to-seed reliability\n\n"
            + to_markdown(pd.DataFrame(reliability), {"seed-to-seed r": "{:.3f}", "reliability of the 2-seed mean": "{:.3f}"})
            + "\n\n## Every seed draw of the base's runs (full tables and branch points 1,3,5)\n\n"
            + to_markdown(resampling, {c: "{:.3f}" for c in resampling.columns if resampling[c].dtype.kind == "f"}))
    write_text_atomic(args.out / "strategies.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
