"""Timings of the recommender core: enumeration, estimate + cost + top-k over every layout, and
the per-budget lookup in a stored performance table.

Targets: enumerate T=5,B=5 < 0.5 s and T=6,B=5 < 5 s; ``treemtl enumerate`` streams T=7,B=5
(2,201,856 layouts) to JSONL in < 300 MB peak memory; estimate+cost+top-k over the 120,196
layouts of T=6,B=5 < 2 s; ``treemtl recommend --performance-table`` on the stored table of those
layouts (load + filter + top-k, in process) < 100 ms.  Each figure is the best of 3 runs (5 for
the lookup); caches are cleared between runs so the enumeration is really redone.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from treemtl.core import layout
from treemtl.cli.enumerate import lines
from treemtl.core.cost import BlockProfile, parse_budget
from treemtl.core.estimator import TwoTaskTable
from treemtl.cli import main as cli_main
from treemtl.core.recommend import (
    load_performance_lookup,
    load_performance_table,
    performance_table,
    read_layouts,
    top_k,
    write_performance_table,
)

TARGETS = {(5, 5): 0.5, (6, 5): 5.0}


def best_of(runs: int, action: Callable[[], object], reset: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(runs):
        if reset is not None:
            reset()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def cli_works(command: list[str]) -> bool:
    """Run the CLI once; report (instead of crash) when the console script cannot start."""
    result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"  CLI {' '.join(command[1:])}: failed with exit {result.returncode} ({last})")
    return result.returncode == 0


def clear_caches() -> None:
    for cached in (layout.layout_space, layout._branch_points, layout._copies, layout._layouts):
        cached.cache_clear()


def synthetic_table(num_tasks: int, num_blocks: int, seed: int = 0) -> TwoTaskTable:
    rng = np.random.default_rng(seed)
    delta = rng.normal(0.0, 5.0, size=(num_tasks, num_tasks, num_blocks + 1))
    delta[:, :, 0] = 0.0
    return TwoTaskTable(tuple(f"t{i}" for i in range(num_tasks)), delta, "synthetic")


def main() -> None:
    cli = [str(Path(sys.executable).parent / "treemtl"), "enumerate"]
    for (tasks, blocks), target in TARGETS.items():
        space_s = best_of(3, lambda: layout.layout_space(tasks, blocks), clear_caches)
        objects_s = best_of(3, lambda: layout.enumerate_layouts(tasks, blocks), clear_caches)
        count = len(layout.layout_space(tasks, blocks))
        print(f"enumerate T={tasks},B={blocks}: {count} layouts; encoded {space_s:.3f} s, "
              f"as Layout objects {objects_s:.3f} s (target < {target} s)")
        for fmt in ("jsonl", "csv"):
            render_s = best_of(3, lambda: "".join(lines(tasks, blocks, fmt)), clear_caches)
            print(f"  enumerate + render {fmt} in-process: {render_s:.3f} s")
            command = [*cli, "--tasks", str(tasks), "--blocks", str(blocks), "--format", fmt]
            if cli_works(command):
                with open("/dev/null", "w") as sink:
                    cli_s = best_of(3, lambda: subprocess.run(command, stdout=sink, check=True))
                print(f"  CLI treemtl enumerate --format {fmt} > /dev/null: {cli_s:.3f} s (with interpreter start)")
    bench_streamed_enumeration(cli)
    startup = [*cli, "--tasks", "1", "--blocks", "1"]
    if cli_works(startup):
        with open("/dev/null", "w") as sink:
            startup_s = best_of(3, lambda: subprocess.run(startup, stdout=sink, check=True))
        print(f"  CLI start-up alone (T=1,B=1): {startup_s:.3f} s")

    table = synthetic_table(6, 5)
    profile = BlockProfile((10_000, 50_000, 60_000, 300_000, 600_000), (100, 500, 2_000, 8_000, 16_000))
    budget = parse_budget("2")
    layout.layout_space(6, 5)  # the enumeration is timed above; the query reuses it
    query_s = best_of(3, lambda: top_k(performance_table(table, profile), 5, budget))
    print(f"estimate + cost + top-5 within 2 models, T=6,B=5 (120,196 layouts): {query_s:.3f} s (target < 2 s)")
    cold_s = best_of(3, lambda: top_k(performance_table(table, profile), 5, budget), clear_caches)
    print(f"  same including the enumeration: {cold_s:.3f} s")
    bench_stored_table(table, profile)


#: Runs a command and prints its peak resident memory (KB). A fresh interpreter launches it: a
#: process forked from this one would count this one's memory too (maxrss survives fork + exec).
PEAK_OF = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def bench_streamed_enumeration(cli: list[str], memory_mb: float = 300.0) -> None:
    """T=7,B=5 to a JSONL file in a child process: its wall time and peak resident memory."""
    if not cli_works([*cli, "--tasks", "1", "--blocks", "1"]):
        return
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "layouts.jsonl"
        command = [sys.executable, "-c", PEAK_OF, *cli, "--tasks", "7", "--blocks", "5", "--out", str(out)]
        start = time.perf_counter()
        peak_kb = int(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        seconds = time.perf_counter() - start
        size_mb = out.stat().st_size / 2**20
    print(f"  treemtl enumerate --tasks 7 --blocks 5 --out layouts.jsonl (2,201,856 layouts, {size_mb:.0f} MB): "
          f"{seconds:.1f} s, peak {peak_kb / 1024:.0f} MB (target < {memory_mb:g} MB)")


def bench_stored_table(table: TwoTaskTable, profile: BlockProfile) -> None:
    """The workflow's path: performance table from layouts.csv, then one lookup per budget."""
    budget = parse_budget("2")
    with tempfile.TemporaryDirectory() as folder:
        layouts = Path(folder) / "layouts.csv"
        layouts.write_text("".join(lines(table.num_tasks, table.num_blocks, "csv")))
        read_s = best_of(3, lambda: performance_table(table, profile, space=read_layouts(layouts, 6, 5)))
        print(f"performance table from layouts.csv (read + estimate + cost), T=6,B=5: {read_s:.3f} s")
        csv_path, npz_path = Path(folder) / "performance_table.csv", Path(folder) / "performance_table.npz"
        write_performance_table(performance_table(table, profile), csv_path, npz_path)
        lookup_s = best_of(5, lambda: load_performance_lookup(npz_path).top_k(5, budget))
        print(f"recommend lookup in the stored table (load .npz + filter + top-5), T=6,B=5: "
              f"{lookup_s * 1000:.1f} ms (target < 100 ms)")
        argv = ["recommend", "--performance-table", str(npz_path), "--budget", "2", "--top-k", "5", "--format", "csv"]

        def command() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                cli_main(argv)

        command()  # first call imports what the command needs
        command_s = best_of(5, command)
        print(f"  treemtl recommend --performance-table .npz --format csv, in process: {command_s * 1000:.1f} ms")
        csv_s = best_of(3, lambda: top_k(load_performance_table(csv_path), 5, budget))
        print(f"  same lookup reading the CSV with pandas: {csv_s * 1000:.0f} ms")


if __name__ == "__main__":
    main()
