"""Report: paper-style recommendation tables (Δ vs singles, reference rows) and figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from treemtl.core.cost import BlockProfile, parse_budget
from treemtl.errors import TreeMTLError
from treemtl.core.estimator import load_two_task_table
from treemtl.core.layout import Layout
from treemtl.core.recommend import performance_table, top_k
from treemtl.evaluation.report.recommendations import write_report
from treemtl.evaluation.report.tables import latex_escape, to_latex, to_markdown
from treemtl.core.relative_performance import relative_performance
from treemtl.training.tasks import get_task

TASKS = ["segment_semantic", "normal", "depth_zbuffer"]  # the paper's NYUv2 task order
SINGLE = {
    "segment_semantic": {"miou": 0.25, "pixel_acc": 0.58},
    "normal": {"mean_angle": 17.0, "median_angle": 15.0, "within_11.25": 0.35, "within_22.5": 0.72, "within_30": 0.85},
    "depth_zbuffer": {"abs_err": 0.6, "rel_err": 0.24, "delta_1": 0.6, "delta_2": 0.87, "delta_3": 0.96},
}
BUDGETS = [2.0, 2.5]


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _final_metrics(layout_id: int) -> dict[str, dict[str, float]]:
    """Deterministic, layout-dependent metrics: each id shifts every metric by a few %."""
    factor = 1.0 + ((layout_id % 7) - 3) / 100.0
    return {task: {k: v * factor for k, v in SINGLE[task].items()} for task in TASKS}


@pytest.fixture
def results(tmp_path: Path, two_task_tables: Path) -> tuple[Path, Path]:
    """A results folder as the workflow leaves it, from the published NYUv2 two-task table."""
    root = tmp_path / "results" / "paper"
    table = load_two_task_table(two_task_tables / "nyuv2_deeplab_resnet34.csv", TASKS, 5)
    profile = BlockProfile((67, 393, 506, 3092, 5943), (4, 104, 525, 3205, 6161))
    frame = performance_table(table, profile)
    root.mkdir(parents=True)
    frame.to_csv(root / "performance_table.csv", index=False)
    ids = {0}
    for budget in BUDGETS:
        picks = top_k(frame, 3, parse_budget(budget))
        (root / "recommend").mkdir(exist_ok=True)
        picks.to_csv(root / "recommend" / f"budget{budget:g}.csv", index=False)
        ids.update(int(i) for i in picks["id"])
    for task in TASKS:
        _write_json(root / "single" / task / "metrics.json", {"metrics": {task: SINGLE[task]}})
    for layout_id in ids:
        _write_json(root / "final" / str(layout_id) / "metrics.json", {"metrics": _final_metrics(layout_id)})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"experiment": "paper", "tasks": TASKS,
                                      "backbone": {"name": "deeplab_resnet34", "blocks": 5},
                                      "recommend": {"budgets": BUDGETS, "top_k": 3}}))
    return config, root


def test_recommendation_table(results: tuple[Path, Path]) -> None:
    config, root = results
    files = write_report(config, root, root / "report")
    table = pd.read_csv(files.csv, dtype={"budget": str, "rank": str})
    performance = pd.read_csv(root / "performance_table.csv")
    independent_id = int(performance.loc[performance["layout"] == Layout.independent(3, 5).format(), "id"].iloc[0])
    assert list(table["budget"].unique()) == ["2", "2.5"]
    for label in ("2", "2.5"):
        rows = table[table["budget"] == label]
        picks = pd.read_csv(root / "recommend" / f"budget{label}.csv")
        assert list(rows["model"])[:2] == [f"Independent (#{independent_id})", "All-shared (#0)"]
        assert list(rows["model"])[2:] == [f"#{i}" for i in picks["id"]]
        assert list(rows["rank"])[2:] == ["1", "2", "3"]
    independent = table.iloc[0]
    assert independent["layout"] == Layout.independent(3, 5).format()
    assert independent["flops_pct"] == pytest.approx(100.0)
    assert independent["delta_t"] == pytest.approx(0.0)
    # The measured Δ of a pick is recomputed here from its metrics and the singles.
    pick = table[table["rank"] == "1"].iloc[0]
    layout_id = int(pick["model"][1:])
    deltas = [relative_performance(t, _final_metrics(layout_id)[t], SINGLE[t], get_task(t).directions).percent for t in TASKS]
    for task, delta in zip(TASKS, deltas):
        assert pick[f"delta_{task}"] == pytest.approx(delta)
    assert pick["delta_t"] == pytest.approx(sum(deltas) / 3)
    assert pick["segment_semantic.miou"] == pytest.approx(_final_metrics(layout_id)["segment_semantic"]["miou"])
    shared = table.iloc[1]
    assert shared["flops_pct"] == pytest.approx(100 / 3, rel=1e-3)


def test_markdown_summary_and_figures(results: tuple[Path, Path]) -> None:
    config, root = results
    files = write_report(config, root, root / "report")
    text = files.markdown.read_text()
    assert "## Budget: 2 backbone model(s)" in text and "## Budget: 2.5 backbone model(s)" in text
    assert "Δt ↑" in text and "segment_semantic miou ↑" in text and "depth_zbuffer abs_err ↓" in text
    summary = files.summary.read_text().splitlines()
    assert len(summary) == 2 + 6  # header, rule, 3 picks per budget
    assert "\\begin{tabular}" in files.latex.read_text()
    for png in (files.layouts, files.score_vs_flops):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_missing_final_model_is_named(results: tuple[Path, Path]) -> None:
    config, root = results
    (root / "final" / "0" / "metrics.json").unlink()
    with pytest.raises(TreeMTLError, match=r"final/0/metrics.json: missing"):
        write_report(config, root, root / "report")


def test_searched_space_report_reads_the_score_landscape(results: tuple[Path, Path], tmp_path: Path,
                                                         two_task_tables: Path) -> None:
    """Beyond recommend.search_above the report needs no performance table: the same tables, from the landscape."""
    from treemtl.core.landscape import score_landscape

    config, root = results
    expected = write_report(config, root, tmp_path / "from_table")
    values = yaml.safe_load(config.read_text())
    values["recommend"]["search_above"] = 10
    searched = tmp_path / "searched.yaml"
    searched.write_text(yaml.safe_dump(values))
    table = load_two_task_table(two_task_tables / "nyuv2_deeplab_resnet34.csv", TASKS, 5)
    profile = BlockProfile((67, 393, 506, 3092, 5943), (4, 104, 525, 3205, 6161))
    score_landscape(table, profile, sample=20, seed=1).to_csv(root / "score_landscape.csv", index=False)
    (root / "performance_table.csv").unlink()
    files = write_report(searched, root, tmp_path / "searched")
    for name in ("markdown", "latex", "summary"):
        assert getattr(files, name).read_text() == getattr(expected, name).read_text()
    pd.testing.assert_frame_equal(pd.read_csv(files.csv), pd.read_csv(expected.csv), rtol=1e-12)
    assert files.score_vs_flops.stat().st_size > 0


def test_markdown_table_alignment_and_escaping() -> None:
    frame = pd.DataFrame({"layout": ["01|01", "0,1|0,1"], "score": [1.2345, float("nan")]})
    lines = to_markdown(frame, {"score": "{:.1f}"}).splitlines()
    assert lines[0] == "| layout   | score |"
    assert lines[1] == "| -------- | ----: |"
    assert lines[2] == "| 01\\|01   |   1.2 |"
    assert lines[3] == "| 0,1\\|0,1 |     - |"


def test_latex_escapes_specials() -> None:
    assert latex_escape("depth_zbuffer #3 50%") == r"depth\_zbuffer \#3 50\%"
    text = to_latex(pd.DataFrame({"task": ["a_b"], "x": [1.0]}), caption="T")
    assert "\\begin{tabular}{lr}" in text and r"a\_b & 1.00 \\" in text and "\\caption{T}" in text
