"""Timings of the exact top-k search (treemtl.core.search) on spaces too large to enumerate.

Random two-task tables whose Δ are random walks over the branches, Deeplab-ResNet34 FLOPs fractions
per block, top-10 without a budget and within 3 models, B=5.  Targets: T=7 < 2 s, T=8 < 10 s,
T=10 < 60 s, T=12 reported; peak memory < 1 GB.  Each case runs in its own process so its peak
resident memory is its own.  The search was developed on seeds 0-4; the figures are for seeds
100-104, which it was not tuned on.  At T=6 the answer is also checked against the performance
table.

Then the threshold of ``treemtl recommend`` (``treemtl.core.best_layouts``: search beyond 200,000
layouts): the whole recommendation (top-5 within 2 models) by the table and by the search on both
sides of it, each in its own process; and the score landscape the workflow draws for a searched
space (exact front over 20 budgets + 1,000 sampled layouts).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np

from treemtl.core.best_layouts import recommend_layouts
from treemtl.core.cost import BlockProfile, parse_budget
from treemtl.core.estimator import TwoTaskTable
from treemtl.core.landscape import score_landscape
from treemtl.core.layout import count_chains
from treemtl.core.recommend import performance_table, top_k
from treemtl.core.search import search_top_k

RESNET34_FLOPS = (0.0057, 0.0404, 0.0507, 0.3093, 0.5939)
RESNET34_PARAMS = (0.0004, 0.0104, 0.0525, 0.3205, 0.6161)
SEEDS = (100, 101, 102, 103, 104)
TARGETS = {7: 2.0, 8: 10.0, 10: 60.0, 12: None}
BUDGETS = (None, "3")
TOP_K = 10
MEMORY_MB = 1024


def walk_table(num_tasks: int, num_blocks: int, seed: int) -> TwoTaskTable:
    """Δ of each task in each pair: 0 at branch 0, then a random walk (steps N(0, 2)) over branches."""
    rng = np.random.default_rng(seed)
    delta = np.zeros((num_tasks, num_tasks, num_blocks + 1))
    delta[:, :, 1:] = np.cumsum(rng.normal(0.0, 2.0, size=(num_tasks, num_tasks, num_blocks)), axis=2)
    return TwoTaskTable(tuple(f"t{i}" for i in range(num_tasks)), delta, f"random walks, seed {seed}")


def one_case(num_tasks: int, budget: str | None, seed: int) -> dict[str, float]:
    """Run one search in this process; report its figures and this process's peak memory."""
    start = time.perf_counter()
    result = search_top_k(walk_table(num_tasks, 5, seed), TOP_K, parse_budget(budget) if budget else None,
                          BlockProfile(RESNET34_FLOPS, RESNET34_PARAMS))
    stats = result.stats
    return {"seconds": time.perf_counter() - start, "visited": stats.nodes_visited,
            "pruning": stats.pruning_rate, "scored": stats.layouts_scored, "space": stats.space_size,
            "rows": len(result.rows), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_case(num_tasks: int, budget: str | None, seed: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--case", str(num_tasks), budget or "none", str(seed)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def check_against_table() -> None:
    table = walk_table(6, 5, SEEDS[0])
    profile = BlockProfile(RESNET34_FLOPS, RESNET34_PARAMS)
    frame = performance_table(table, profile)
    for budget in BUDGETS:
        chosen = parse_budget(budget) if budget else None
        found = search_top_k(table, TOP_K, chosen, profile).rows
        same = found["id"].tolist() == top_k(frame, TOP_K, chosen)["id"].tolist()
        print(f"T=6,B=5 top-{TOP_K} {'within ' + budget + ' models' if budget else 'no budget'}: "
              f"{'same ids and order as the performance table' if same else 'DIFFERS from the performance table'}")


def one_recommendation(num_tasks: int, num_blocks: int, method: str) -> dict[str, float]:
    """The whole recommendation in this process, by ``method``; or (method "landscape") the landscape."""
    profile = BlockProfile.uniform(num_blocks) if num_blocks != 5 else BlockProfile(RESNET34_FLOPS, RESNET34_PARAMS)
    table = walk_table(num_tasks, num_blocks, SEEDS[0])
    start = time.perf_counter()
    if method == "landscape":
        score_landscape(table, profile)
    else:
        recommend_layouts(table, 5, parse_budget("2"), profile, method=method)  # type: ignore[arg-type]
    return {"seconds": time.perf_counter() - start}


#: Runs a command and prints its peak resident memory (KB). A fresh interpreter launches it: a
#: process forked from this one would count this one's memory too (maxrss survives fork + exec).
PEAK_OF = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run_recommendation(num_tasks: int, num_blocks: int, method: str) -> dict[str, float]:
    command = [sys.executable, "-c", PEAK_OF, sys.executable, __file__, "--recommend", str(num_tasks),
               str(num_blocks), method]
    figures, peak_kb = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    return {**json.loads(figures), "peak_mb": int(peak_kb) / 1024}


def bench_threshold() -> None:
    for num_tasks, num_blocks in ((6, 5), (6, 6), (7, 5)):
        runs = {method: run_recommendation(num_tasks, num_blocks, method) for method in ("table", "search")}
        print(f"top-5 within 2 models, T={num_tasks},B={num_blocks} ({count_chains(num_tasks, num_blocks):,} "
              f"layouts): table {runs['table']['seconds']:.2f} s / {runs['table']['peak_mb']:.0f} MB, "
              f"search {runs['search']['seconds']:.2f} s / {runs['search']['peak_mb']:.0f} MB")
    for num_tasks in (7, 10, 12):
        run = run_recommendation(num_tasks, 5, "landscape")
        print(f"score landscape T={num_tasks},B=5 (front over 20 budgets + 1,000 sampled layouts): "
              f"{run['seconds']:.2f} s, peak {run['peak_mb']:.0f} MB")


def main() -> None:
    failed = []
    for num_tasks, target in TARGETS.items():
        for budget in BUDGETS:
            runs = [run_case(num_tasks, budget, seed) for seed in SEEDS]
            worst = max(run["seconds"] for run in runs)
            peak = max(run["peak_mb"] for run in runs)
            label = f"T={num_tasks},B=5 top-{TOP_K} {'within ' + budget + ' models' if budget else 'no budget'}"
            goal = f"target < {target:g} s" if target else "reported"
            print(f"{label} ({runs[0]['space']:,} layouts), seeds {SEEDS[0]}-{SEEDS[-1]}: "
                  f"median {np.median([r['seconds'] for r in runs]):.2f} s, worst {worst:.2f} s ({goal}); "
                  f"peak memory {peak:.0f} MB (target < {MEMORY_MB} MB)")
            for seed, run in zip(SEEDS, runs):
                print(f"  seed {seed}: {run['seconds']:.2f} s, {run['visited']:,} nodes visited, "
                      f"pruning rate {100 * run['pruning']:.1f} %, {run['scored']:,} layouts scored")
            if (target is not None and worst >= target) or peak >= MEMORY_MB:
                failed.append(label)
    bench_threshold()
    check_against_table()  # last: a child process inherits the peak memory of its parent
    if failed:
        print("MISSED TARGETS: " + "; ".join(failed))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--case":
        tasks, budget_text, seed_text = sys.argv[2:]
        print(json.dumps(one_case(int(tasks), None if budget_text == "none" else budget_text, int(seed_text))))
    elif len(sys.argv) == 5 and sys.argv[1] == "--recommend":
        print(json.dumps(one_recommendation(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])))
    else:
        main()
