"""Time of Snakemake's DAG construction (dry run) for the 3- and 5-task synthetic configs.

The dry run parses the workflow, validates the config, enumerates nothing yet (layouts are a
job) and builds the DAG of T singles + C(T,2)·B pairs + one recommendation per budget. It is
what every `snakemake` call pays before running anything, including each cluster job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REPEATS = 3


def dry_run_seconds(configfile: Path) -> float:
    """Median wall time of ``snakemake --dry-run`` for ``configfile`` in a fresh folder."""
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    times = []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory() as workdir:
            config = Path(workdir) / configfile.name
            shutil.copy(configfile, config)
            started = time.perf_counter()
            subprocess.run(
                [str(BIN / "snakemake"), "--snakefile", str(REPO / "workflow" / "Snakefile"),
                 "--directory", workdir, "--configfile", str(config), "--dry-run", "--quiet", "all"],
                env=env, check=True, capture_output=True,
            )
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def main() -> None:
    for name, label in (("config.yaml", "3 tasks (3 singles + 15 pairs)"),
                        ("synthetic5.yaml", "5 tasks (5 singles + 50 pairs)")):
        seconds = dry_run_seconds(REPO / "config" / name)
        print(f"dry-run DAG, {label}: {seconds:.2f} s (median of {REPEATS})")


if __name__ == "__main__":
    main()
