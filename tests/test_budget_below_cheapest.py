"""A budget below the cheapest layout: the library returns nothing, people are told why."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from treemtl.cli import main
from treemtl.core.cost import BlockProfile, parse_budget
from treemtl.core.estimator import load_two_task_table
from treemtl.core.recommend import performance_table, top_k
from treemtl.evaluation.report.recommendations import RunResults, summary_markdown

PAPER_FRACTIONS = "0.0057,0.0404,0.0507,0.3093,0.5939"


def _recommend(two_task_tables: Path, *flags: str) -> list[str]:
    return ["recommend", "--table", str(two_task_tables / "nyuv2_deeplab_resnet34.csv"), "--blocks", "5", *flags]


def test_library_returns_an_empty_table_silently(two_task_tables: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = performance_table(load_two_task_table(two_task_tables / "nyuv2_deeplab_resnet34.csv"))
    best = top_k(frame, 5, parse_budget("0.5"))
    assert len(best) == 0 and list(best.columns) == list(frame.columns)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("flags", "warning"),
    [
        (("--budget", "0.5"), "no layout within budget 0.5 models (cheapest: 1 models)"),
        (("--budget", "20%", "--block-flops", PAPER_FRACTIONS),
         "no layout within budget 20% of independent FLOPs (cheapest: 33.3333% of independent FLOPs)"),
        (("--budget", "0.9999", "--block-flops", PAPER_FRACTIONS), "no layout within budget 0.9999 models (cheapest: 1 models)"),
    ],
)
def test_cli_warns_and_writes_a_header_only_csv(
    two_task_tables: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], warning: str
) -> None:
    assert main(_recommend(two_task_tables, *flags, "--format", "csv")) == 0
    captured = capsys.readouterr()
    assert captured.err == f"treemtl: warning: {warning}\n"
    table = pd.read_csv(io.StringIO(captured.out))
    assert len(table) == 0
    assert list(table.columns) == ["id", "layout", "est_task0", "est_task1", "est_task2", "score", "flops", "params",
                                   "flops_pct", "params_pct"]


def test_cli_does_not_warn_when_a_layout_fits(two_task_tables: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_recommend(two_task_tables, "--budget", "1", "--format", "csv")) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and len(pd.read_csv(io.StringIO(captured.out))) == 1


def _run_and_table(two_task_tables: Path, budgets: dict[str, int]) -> tuple[RunResults, pd.DataFrame]:
    """The inputs of the summary: picks per budget label (top-k within it) and the report's rows."""
    table = load_two_task_table(two_task_tables / "nyuv2_deeplab_resnet34.csv")
    performance = performance_table(table, BlockProfile((67, 393, 506, 3092, 5943), (4, 104, 525, 3205, 6161)))
    picks = {label: top_k(performance, k, parse_budget(label)) for label, k in budgets.items()}
    rows = []
    for label, frame in picks.items():
        rows.append({"budget": label, "rank": "-", "model": "All-shared (#0)", "layout": "012|012|012|012|012",
                     "flops_pct": 100 / 3, "params_pct": 100 / 3, "est_score": 3.9, "delta_t": 0.0})
        for rank, row in enumerate(frame.itertuples(), start=1):
            rows.append({"budget": label, "rank": str(rank), "model": f"#{row.id}", "layout": row.layout,
                         "flops_pct": row.flops_pct, "params_pct": row.params_pct, "est_score": row.score,
                         "delta_t": 1.0})
    run = RunResults(SimpleNamespace(tasks=table.tasks), pd.DataFrame(performance), picks, {})  # type: ignore[arg-type]
    return run, pd.DataFrame(rows)


def test_summary_names_the_budget_and_the_cheapest_layout(two_task_tables: Path) -> None:
    run, rows = _run_and_table(two_task_tables, {"0.5": 3})
    assert summary_markdown(run, rows) == "no layout within budget 0.5 models (cheapest: 1 models)\n"


def test_summary_keeps_the_table_of_budgets_that_fit(two_task_tables: Path) -> None:
    run, rows = _run_and_table(two_task_tables, {"2": 2, "0.25": 2})
    lines = summary_markdown(run, rows).splitlines()
    assert lines[0].startswith("| budget") and len([line for line in lines if line.startswith("| 2 ")]) == 2
    assert lines[-1] == "no layout within budget 0.25 models (cheapest: 1 models)"
