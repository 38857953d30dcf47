"""Running the Snakemake workflow from tests: in a temporary working directory, via subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path
from typing import Any

from treemtl.core.best_layouts import SEARCH_ABOVE, uses_search

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
BIN = Path(sys.executable).parent
OPEN_AUDIT = REPO / "tests" / "open_audit"


def snakemake(
    workdir: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``snakemake`` of this environment on the repository's Snakefile, working in ``workdir``.

    ``env`` adds variables to the environment of Snakemake and of every job it runs.
    """
    env = dict(os.environ, PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]), **(env or {}))
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


def dry_run(workdir: Path, configfile: Path | Sequence[Path], *args: str) -> dict[str, int]:
    """Jobs a run would execute now (rule -> count); fails the test on a Snakemake error.

    Several config files are layered in order, as ``snakemake --configfile A B`` layers them."""
    files = [configfile] if isinstance(configfile, Path) else list(configfile)
    done = snakemake(workdir, "--configfile", *map(str, files), "--dry-run", "--quiet", "rules", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return job_counts(done.stdout + done.stderr)


def expected_job_counts(config: dict[str, Any]) -> dict[str, int]:
    """The jobs a dry run of a fresh results tree lists for ``config`` (rule -> count): T single-task
    and C(T,2)·B two-task models (and their repeats), one recommendation per budget and the
    ``trained_finals`` aggregator. The final trainings are not listed: the recommend checkpoint
    decides them after the two-task table is trained."""
    num_tasks, num_blocks = len(config["tasks"]), config["backbone"]["blocks"]
    expected = {
        "data": 1,
        "detect": 1,
        "train_single": num_tasks,
        "train_pair": comb(num_tasks, 2) * num_blocks,
        "two_task_table": 1,
        "weights": 1,
        "enumerate_layouts": 1,
        "performance_table": 1,
        "recommend": len(config["recommend"]["budgets"]),
        "trained_finals": 1,
        "report": 1,
        "resolved_config": 1,
        "all": 1,
    }
    if uses_search(num_tasks, num_blocks, config["recommend"].get("search_above", SEARCH_ABOVE)):
        del expected["enumerate_layouts"], expected["performance_table"]  # too many layouts to list
        expected["score_landscape"] = 1
    repeats = len(config.get("repeat_seeds", []))
    if repeats:
        expected["train_single_repeat"] = repeats * num_tasks
        expected["train_pair_repeat"] = repeats * comb(num_tasks, 2) * num_blocks
    return expected


def open_audit_env(records: Path, watched: Path) -> dict[str, str]:
    """Variables that make every ``treemtl`` job record the files it opens under ``watched``.

    ``tests/open_audit/sitecustomize.py`` (first on PYTHONPATH) writes one record per process into
    ``records``; nothing is recorded without these variables.
    """
    path = os.pathsep.join(p for p in (str(OPEN_AUDIT), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "TREEMTL_OPEN_AUDIT_DIR": str(records), "TREEMTL_OPEN_AUDIT_ROOT": str(watched)}


@dataclass(frozen=True)
class AuditedJob:
    """One job of a run: its rule and declared inputs (Snakemake's metadata) and the files it read."""

    rule: str
    inputs: frozenset[str]
    reads: frozenset[str]


def audited_jobs(workdir: Path, records: Path, metadata: Path) -> tuple[dict[str, AuditedJob], dict[str, str]]:
    """Audited jobs by log file, and the rule of every job with a log (audited or not).

    ``metadata`` is (a copy of) Snakemake's ``.snakemake/metadata`` after the audited run. A file
    a process read after writing it (its own output) is not counted as read. A process that execs
    another (``treemtl gpu-slot -- treemtl train``) keeps its record. Paths are relative to
    ``workdir``, like Snakemake's.
    """
    base = Path(os.path.realpath(workdir))
    declared: dict[str, tuple[str, frozenset[str]]] = {}
    for record in metadata.iterdir():
        meta = json.loads(record.read_text())
        for log in meta.get("log") or []:
            declared[log] = (meta["rule"], frozenset(meta.get("input") or []))
    reads: dict[str, set[str]] = {}
    for record in records.glob("*.tsv"):
        lines = record.read_text().splitlines()
        log = os.path.relpath(lines[0].split("\t", 1)[1], base)
        written: set[str] = set()
        seen = reads.setdefault(log, set())
        for line in lines[1:]:
            kind, path = line.split("\t", 1)
            path = os.path.relpath(path, base)
            if kind == "W":
                written.add(path)
            elif kind == "R" and path not in written:
                seen.add(path)
    jobs = {
        log: AuditedJob(rule, inputs, frozenset(reads[log]))
        for log, (rule, inputs) in declared.items()
        if log in reads
    }
    return jobs, {log: rule for log, (rule, _) in declared.items()}
