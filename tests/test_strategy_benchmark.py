"""``scripts/strategy_benchmark.py``'s guards (the benchmark itself takes 40+ minutes per set)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "strategy_benchmark.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_evaluate_only_names_the_first_experiment_that_was_never_trained(tmp_path: Path) -> None:
    done = _run("--sets", "2", "--scale", "smoke", "--evaluate-only", "--workdir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode != 0
    assert "--evaluate-only: full, 4 seeds (base) on set 2 is not trained" in done.stderr
    assert "strategies_set2_full_0/oracle/correlation.json is missing" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing written from a partial evaluation


def test_set_zero_is_refused_as_the_shipped_draw(tmp_path: Path) -> None:
    done = _run("--sets", "0", "--evaluate-only", "--workdir", str(tmp_path))
    assert done.returncode == 2 and "set 0 is the shipped configs' draw" in done.stderr
