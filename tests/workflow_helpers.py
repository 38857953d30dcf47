"""Running the Snakemake workflow from tests: in a temporary working directory, via subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
BIN = Path(sys.executable).parent


def snakemake(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``snakemake`` of this environment on the repository's Snakefile, working in ``workdir``."""
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(SNAKEFILE), "--directory", str(workdir), *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """The ``Job stats`` table of a (dry-)run as {rule: count}, without the total."""
    match = re.search(r"Job stats:\njob\s+count\n[-\s]+\n((?:\S+\s+\d+\n)+)", output)
    if match is None:
        return {}
    counts = dict((name, int(n)) for name, n in (line.split() for line in match.group(1).splitlines()))
    counts.pop("total", None)
    return counts


def dry_run(workdir: Path, configfile: Path, *args: str) -> dict[str, int]:
    """Jobs a run would execute now (rule -> count); fails the test on a Snakemake error."""
    done = snakemake(workdir, "--configfile", str(configfile), "--dry-run", "--quiet", "rules", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return job_counts(done.stdout + done.stderr)
