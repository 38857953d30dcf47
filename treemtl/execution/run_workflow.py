"""``make run``: the whole workflow on one config with a profile, then the recommendations.

Runs Snakemake as a subprocess from the repository root (the ``treemtl`` and ``snakemake``
executables of this interpreter's environment first on PATH, so the rules' ``treemtl`` calls
use the same installation), then prints the compact recommendation table and the report path.

    python -m treemtl.execution.run_workflow --configfile config/config.yaml --cores all [SNAKEMAKE ARGS...]

Several config files are layered as Snakemake layers them (each later file's keys override, nested
sections merged), e.g. an experiment and a preset of ``config/presets/``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from treemtl.results_tree import ResultsTree

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"  # the Snakefile's configfile, under every other


def snakemake_env() -> dict[str, str]:
    """Environment with this interpreter's bin folder first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def snakemake_command(configfiles: Sequence[str], cores: str, profile: str, extra: Sequence[str]) -> list[str]:
    """The Snakemake call for ``configfiles`` with ``profile`` (a folder under workflow/profiles or a path)."""
    profile_dir = Path(profile) if os.sep in profile else REPO / "workflow" / "profiles" / profile
    return [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile", str(REPO / "workflow" / "Snakefile"),
        "--profile", str(profile_dir),
        "--configfile", *configfiles,
        "--cores", cores,
        *extra,
    ]


def experiment_of(configfiles: Sequence[str]) -> str:
    """``experiment`` of layered config files (the folder under results/): the last file that sets it.

    The Snakefile's own ``configfile: config/config.yaml`` is the first layer, as Snakemake reads it.
    """
    experiment = None
    for configfile in [str(DEFAULT_CONFIG), *configfiles]:
        with open(configfile, encoding="utf-8") as handle:
            experiment = (yaml.safe_load(handle) or {}).get("experiment", experiment)
    return str(experiment)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m treemtl.execution.run_workflow", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", nargs="+", default=["config/config.yaml"],
                        help="config files, later ones overriding earlier ones (default config/config.yaml)")
    parser.add_argument("--cores", default="all")
    parser.add_argument("--profile", default="default", help="profile name under workflow/profiles, or a folder")
    args, extra = parser.parse_known_args(argv)
    missing = [path for path in args.configfile if not Path(path).is_file()]
    if missing:  # e.g. a target written right after the config files, which --configfile swallows
        parser.error(f"--configfile: no such file: {', '.join(missing)} (put Snakemake targets before --configfile)")
    configfiles = [str(Path(path).resolve()) for path in args.configfile]
    command = snakemake_command(configfiles, str(args.cores), args.profile, extra)
    print("+ " + " ".join(command), flush=True)
    started = time.perf_counter()
    status = subprocess.run(command, cwd=REPO, env=snakemake_env()).returncode
    elapsed = time.perf_counter() - started
    if status != 0:
        print(f"workflow failed after {elapsed:.0f} s (exit {status})", file=sys.stderr)
        return status
    tree = ResultsTree.of_experiment(experiment_of(configfiles), REPO / "results")
    summary = tree.report_file("summary.md")
    print(f"\nworkflow finished in {elapsed:.0f} s\n")
    if summary.is_file():
        print("Top recommendations (est. score = estimate; Δt = measured after training, vs single-task models):\n")
        print(summary.read_text(encoding="utf-8"))
    print(f"report: {tree.report_file('recommendations.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
