"""``scripts/strategy_benchmark.py``: its guards and the resampling summary (the benchmark itself takes
40+ minutes per set)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def _script_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("strategy_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_resampled_recipe_is_a_subset_of_the_base_and_the_base_itself_once() -> None:
    recipes = _script_module().RESAMPLED
    assert len(set(recipes)) == len(recipes)
    assert (4, "same", None) in recipes and (4, "all", None) not in recipes  # four seeds: the base, once
    assert all(1 <= pairs <= 4 and branches in (None, (1, 3, 5)) for pairs, _, branches in recipes)


def test_resampling_summary_counts_draws_compute_and_the_share_above_target() -> None:
    import pandas as pd

    module = _script_module()
    draws = pd.DataFrame({
        "set": [1, 1, 2, 2], "pair seeds": [1] * 4, "single seeds": [1] * 4, "branches": ["1,2,3,4,5"] * 4,
        "draw": ["main", "1001", "main", "2001"], "cpu_s": [20.0, 30.0, 25.0, 25.0], "weighting": ["equal"] * 4,
        "pearson": [0.9, 0.5, 0.7, 0.1], "spearman": [0.8, 0.4, 0.6, 0.2], "kendall": [0.7, 0.3, 0.5, 0.1],
        "regret@1 2": [0.0, 0.3, 0.0, 0.9], "regret@5 2": [0.0, 0.2, 0.0, 0.4],
    })
    (row,) = module.summarise_resampling(draws, base_cpu=100.0).to_dict("records")
    assert row["draws"] == 4 and row["% of base"] == 25.0
    assert row["pearson mean"] == pytest.approx(0.55) and row["pearson min"] == 0.1 and row["share >= 0.7"] == 0.5
    assert row["regret@5 2 max"] == 0.4 and "regret@1 2 max" not in row
