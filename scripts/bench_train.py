"""Training benchmark on the built-in synthetic data (CPU, 2 threads, 64x64 images, batch 32).

Prints, as readable lines:
* training throughput (images/s, evaluation excluded) of a single-task and of a 5-task
  all-shared ``small_cnn`` model;
* for a two-task model trained with the default synthetic recipe (``config/config.yaml``, or the
  built-in defaults without it): wall time of the whole run and the time after which the
  validation Δt (against the run's final metrics) stays within ±1 % — the point where longer
  training would no longer change the two-task table.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from treemtl.training.config import ExperimentConfig, config_from_dict, load_config
from treemtl.training.data.synthetic import SynthSpec, write_dataset
from treemtl.core.layout import Layout
from treemtl.training.registry import PAPER_TASKS
from treemtl.training.trainer import train, validation_score

ALL_TASKS = list(PAPER_TASKS)
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def base_config(path: Path | None) -> ExperimentConfig:
    """The synthetic experiment whose recipe is benchmarked (all five tasks enabled)."""
    base = load_config(path).to_dict() if path is not None and path.is_file() else {"experiment": "bench_train"}
    return config_from_dict({**base, "tasks": ALL_TASKS}, source=str(path or "defaults"))


def bench_config(base: ExperimentConfig, root: Path, **train_overrides: object) -> ExperimentConfig:
    """``base`` with its data at ``root`` and training overrides."""
    config = base
    data = dataclasses.replace(config.data, root=str(root))
    return dataclasses.replace(config, data=data, train=dataclasses.replace(config.train, **train_overrides))


def throughput(base: ExperimentConfig, root: Path, out: Path, tasks: list[str], threads: int, iters: int) -> float:
    config = bench_config(base, root, iters=iters, eval_every=10**6, checkpoint_every=10**6, batch_size=32)
    layout = Layout.all_shared(len(tasks), config.backbone.blocks)
    summary = train(config, tasks, layout, out, seed=0, device="cpu", threads=threads).summary
    return float(summary["images_per_s"])


def convergence(base: ExperimentConfig, root: Path, out: Path, threads: int, eval_every: int, tolerance: float) -> None:
    config = bench_config(base, root, eval_every=eval_every)
    tasks = ["segment_semantic", "depth_zbuffer"]
    layout = Layout.two_task(2, config.backbone.blocks)
    times: dict[int, float] = {}
    start = time.perf_counter()
    summary = train(config, tasks, layout, out, seed=0, device="cpu", threads=threads,
                    on_iteration=lambda k: times.__setitem__(k, time.perf_counter() - start)).summary
    history = summary["history"]
    final = history[-1]["metrics"]
    deltas = [validation_score(entry["metrics"], final) for entry in history]
    stable_index = len(history) - 1
    while stable_index > 0 and abs(deltas[stable_index - 1]) <= tolerance:
        stable_index -= 1
    stable = history[stable_index]["iteration"]
    print(f"two-task {','.join(tasks)} layout {layout.format()}: {summary['iterations']} iterations "
          f"(batch {config.train.batch_size}, lr {config.train.lr}, x{config.train.lr_gamma}/{config.train.lr_step}) "
          f"in {summary['wall_time_s']:.1f} s, {summary['images_per_s']:.0f} images/s")
    print("  validation Δt vs final metrics by iteration: "
          + ", ".join(f"{h['iteration']}: {d:+.2f}" for h, d in zip(history, deltas)))
    print(f"  stable within ±{tolerance:g} % from iteration {stable} ({times.get(stable, 0.0):.1f} s)")
    print("  final metrics: " + "; ".join(f"{t}: " + ", ".join(f"{k}={v:.3g}" for k, v in m.items())
                                         for t, m in final.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config whose synthetic recipe to time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=30, help="iterations for the throughput runs")
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--tolerance", type=float, default=1.0, help="Δt band (%%) that counts as stable")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = base_config(args.config)
    with tempfile.TemporaryDirectory(prefix="treemtl-bench-") as tmp:
        root = Path(tmp) / "data"
        defaults = base.data.synthetic
        started = time.perf_counter()
        write_dataset(root, SynthSpec(n_train=defaults.n_train, n_val=defaults.n_val, size=defaults.size,
                                      seed=defaults.seed), workers=args.threads, contact_sheet=False)
        print(f"synthetic data {defaults.n_train}+{defaults.n_val} images {defaults.size}x{defaults.size}: "
              f"generated in {time.perf_counter() - started:.1f} s")
        for tasks in (["segment_semantic"], ALL_TASKS):
            rate = throughput(base, root, Path(tmp) / f"tp{len(tasks)}", tasks, args.threads, args.iters)
            print(f"throughput {len(tasks)}-task all-shared small_cnn, {args.threads} threads, batch 32, 64x64: "
                  f"{rate:.0f} images/s")
        print(f"recipe from {args.config if args.config.is_file() else 'built-in defaults'}")
        convergence(base, root, Path(tmp) / "pair", args.threads, args.eval_every, args.tolerance)


if __name__ == "__main__":
    main()
