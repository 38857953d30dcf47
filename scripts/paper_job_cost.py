"""Price a paper experiment before running it: per-job time and memory at a reduced iteration count.

For each paper config, random samples in the dataset's real on-disk format are written
(:mod:`treemtl.training.data.format_samples`, so decoding, augmentation and the data loader cost
what they cost on the real files), and a few jobs of the experiment are trained for ``--iters``
iterations with the config's recipe (batch size, crop, head, amp): a single-task model, a two-task
model branching in the middle, the all-shared and the independent network of all tasks (the two
ends of every final tree). Steady-state seconds per iteration (the median iteration after
``--warmup``), seconds per evaluated image and peak GPU memory are measured; the full job time is
``train.iters`` x s/iter + evaluations x val images x s/image, and the GPU-hours of each stage
follow from the job counts: T singles, C(T,2)·B pairs, and at most top_k x budgets finals (priced
as the independent network, an upper bound). The evaluation time per image is measured on a
``--val-images`` split and includes the loader's worker start, so the with-evaluation figures are
upper bounds; the train-only columns leave evaluation out.

    python scripts/paper_job_cost.py --out paper_cost/ [--configs config/nyuv2_resnet34.yaml ...]

Writes ``jobs.csv`` (one row per timed job) and ``experiments.csv`` / ``experiments.md`` (GPU-hours
per stage and config).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from math import comb
from pathlib import Path

import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from treemtl.core.layout import Layout  # noqa: E402
from treemtl.training.config import config_from_dict  # noqa: E402
from treemtl.training.data import build_dataset  # noqa: E402
from treemtl.training.data.format_samples import sample_options, write_format_samples  # noqa: E402
from treemtl.training.trainer import train  # noqa: E402

PAPER_CONFIGS = ("nyuv2_resnet34", "nyuv2_mobilenetv2", "taskonomy_resnet34", "taskonomy_mobilenetv2")
# Evaluation images per evaluation on the real data: NYUv2's 654 test images; Tiny-Taskonomy's
# validation buildings hold tens of thousands of images, the authors evaluate on a fixed subset
# ("test_small"), taken here as 1,000 images (an assumption: the subset's size is not published).
VAL_IMAGES = {"nyuv2": 654, "taskonomy": 1000}


@dataclass(frozen=True)
class Job:
    kind: str
    tasks: tuple[str, ...]
    layout: Layout


def experiment_jobs(tasks: list[str], blocks: int) -> list[Job]:
    """The job kinds whose cost differs: single, pair, and the two ends of a final tree."""
    count = len(tasks)
    return [
        Job("single", (tasks[0],), Layout.all_shared(1, blocks)),
        Job("pair", (tasks[0], tasks[1]), Layout.two_task(max(1, blocks // 2), blocks)),
        Job("all_shared", tuple(tasks), Layout.all_shared(count, blocks)),
        Job("independent", tuple(tasks), Layout.independent(count, blocks)),
    ]


def reduced_config(path: Path, data_root: Path, iters: int, amp: str) -> dict:
    values = yaml.safe_load(path.read_text())
    values["data"]["root"] = str(data_root)
    values["data"]["options"] = {**values["data"].get("options", {}), **sample_options(values["data"]["dataset"])}
    values["train"].update(iters=iters, eval_every=iters, checkpoint_every=iters, early_stop_patience=0, amp=amp)
    return values


def time_job(values: dict, job: Job, out: Path, warmup: int, device: str) -> dict:
    """Train one job, timing each iteration (synchronised) and the final evaluation."""
    config = config_from_dict(values, source="paper_job_cost")
    train_set, val_set = (build_dataset(config, split, list(job.tasks)) for split in ("train", "val"))
    stamps: list[float] = []

    def on_iteration(_: int) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = train(config, job.tasks, job.layout, out, device=device, train_set=train_set, val_set=val_set,
                   on_iteration=on_iteration)
    total = time.perf_counter() - start
    steps = [b - a for a, b in zip(stamps, stamps[1:])][warmup:]
    # the last interval is one step plus the evaluation (eval_every = iters)
    last = steps.pop() if steps else float("nan")
    s_per_iter = statistics.median(steps) if steps else float("nan")
    eval_s = max(last - s_per_iter, 0.0)
    return {
        "kind": job.kind, "tasks": ",".join(job.tasks), "layout": job.layout.format(),
        "amp": values["train"]["amp"], "batch_size": values["train"]["batch_size"],
        "s_per_iter": round(s_per_iter, 5), "eval_s_per_image": round(eval_s / len(val_set), 5),
        "peak_gpu_memory_mib": result.summary.get("peak_gpu_memory_mib"), "job_wall_s": round(total, 1),
        "device": torch.cuda.get_device_name(0) if result.summary["device"] == "cuda" else "cpu",
    }


def job_hours(row: dict, values: dict, val_images: int, evaluate: bool = True) -> float:
    """GPU-hours of one full job: its iterations, plus (``evaluate``) its evaluations on the real val split."""
    recipe = values["train"]
    evaluations = recipe["iters"] // recipe["eval_every"] if evaluate else 0
    return (recipe["iters"] * row["s_per_iter"] + evaluations * val_images * row["eval_s_per_image"]) / 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=[str(REPO / "config" / f"{n}.yaml") for n in PAPER_CONFIGS])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--iters", type=int, default=40, help="iterations per timed job (default 40)")
    parser.add_argument("--warmup", type=int, default=10, help="iterations left out of the median (default 10)")
    parser.add_argument("--train-images", type=int, default=64)
    parser.add_argument("--val-images", type=int, default=16)
    parser.add_argument("--fp32", action="store_true", help="also time each config's pair job with amp off")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, stages = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for config_path in map(Path, args.configs):
            full = yaml.safe_load(config_path.read_text())
            dataset, tasks, blocks = full["data"]["dataset"], full["tasks"], full["backbone"]["blocks"]
            data_root = Path(scratch) / dataset
            if not data_root.exists():
                write_format_samples(dataset, data_root, args.train_images, args.val_images)
            measured = {}
            for job in experiment_jobs(tasks, blocks):
                for amp in ("auto", "off") if (args.fp32 and job.kind == "pair") else ("auto",):
                    values = reduced_config(config_path, data_root, args.iters, amp)
                    row = time_job(values, job, Path(scratch) / "runs" / config_path.stem / f"{job.kind}_{amp}",
                                   args.warmup, args.device)
                    row["config"] = config_path.stem
                    row["full_job_gpu_h"] = round(job_hours(row, full, VAL_IMAGES.get(dataset, args.val_images)), 3)
                    row["train_only_gpu_h"] = round(job_hours(row, full, 0, evaluate=False), 3)
                    rows.append(row)
                    print({k: row[k] for k in ("config", "kind", "amp", "s_per_iter", "peak_gpu_memory_mib",
                                               "full_job_gpu_h")}, flush=True)
                    if amp == full["train"].get("amp", "auto"):
                        measured[job.kind] = (row["full_job_gpu_h"], row["train_only_gpu_h"])
            finals = full["recommend"]["top_k"] * len(full["recommend"]["budgets"])
            stage = {
                "config": config_path.stem, "tasks": len(tasks), "blocks": blocks, "iters": full["train"]["iters"],
                "singles": len(tasks), "pairs": comb(len(tasks), 2) * blocks, "finals_at_most": finals,
                "single_h": measured["single"][0], "pair_h": measured["pair"][0],
                "final_h_at_most": measured["independent"][0],
            }
            for suffix, part in (("", 0), ("_train_only", 1)):
                stage[f"two_task_table_gpu_h{suffix}"] = round(
                    stage["singles"] * measured["single"][part] + stage["pairs"] * measured["pair"][part], 1)
                stage[f"finals_gpu_h_at_most{suffix}"] = round(finals * measured["independent"][part], 1)
            stages.append(stage)
            pd.DataFrame(rows).to_csv(args.out / "jobs.csv", index=False)
            pd.DataFrame(stages).to_csv(args.out / "experiments.csv", index=False)
    table = pd.DataFrame(stages)
    (args.out / "experiments.md").write_text(table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False))
    print(table.to_string(index=False))
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
