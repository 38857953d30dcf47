"""CLI contracts of enumerate, recommend, weights and performance-table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from treemtl.cli import main
from treemtl.core.layout import Layout, enumerate_layouts

FRACTIONS = "0.0057,0.0404,0.0507,0.3093,0.5939"


def test_enumerate_jsonl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["enumerate", "--tasks", "3", "--blocks", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 51
    layouts = enumerate_layouts(3, 5)
    for index, line in enumerate(lines):
        record = json.loads(line)
        assert set(record) == {"id", "layout"} and record["id"] == index
        assert Layout(tuple(tuple(tuple(g) for g in b) for b in record["layout"])) == layouts[index]
        assert record["layout"] == layouts[index].to_list()


def test_enumerate_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["enumerate", "--tasks", "3", "--blocks", "5", "--format", "csv"]) == 0
    frame = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert list(frame.columns) == ["id", "layout"]
    assert [Layout.parse(t) for t in frame["layout"]] == enumerate_layouts(3, 5)
    out = tmp_path / "layouts.csv"
    assert main(["enumerate", "--tasks", "2", "--blocks", "2", "--format", "csv", "--out", str(out)]) == 0
    assert out.read_text().splitlines() == ["id,layout", "0,01|01", '1,"0,1|0,1"', '2,"01|0,1"']


def test_recommend_json(capsys: pytest.CaptureFixture[str], two_task_tables: Path) -> None:
    args = ["recommend", "--table", str(two_task_tables / "taskonomy_deeplab_resnet34.xlsx"), "--blocks", "5",
            "--block-flops", FRACTIONS, "--budget", "3", "--format", "json",
            "--task-names", "seg,normal,depth,kp,edge"]
    assert main(args) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in records] == [1037, 1046, 943, 1063, 479]
    first = records[0]
    for key in ("layout", "layout_text", "score", "est_seg", "est_edge", "flops_pct", "params_pct"):
        assert key in first
    assert Layout.parse(first["layout_text"]).to_list() == first["layout"]


def test_recommend_table_and_csv(capsys: pytest.CaptureFixture[str], two_task_tables: Path) -> None:
    table = str(two_task_tables / "nyuv2_deeplab_resnet34.csv")
    assert main(["recommend", "--table", table, "--blocks", "5"]) == 0
    out = capsys.readouterr().out
    assert "012|012|012|01,2|01,2" in out and len(out.strip().splitlines()) == 7  # header line, titles, 5 rows
    assert main(["recommend", "--table", table, "--blocks", "5", "--format", "csv", "--top-k", "5"]) == 0
    frame = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert set(frame["id"]) == {0, 45, 50, 37, 49}


def test_weights_and_performance_table(tmp_path: Path, two_task_tables: Path) -> None:
    table = str(two_task_tables / "nyuv2_deeplab_resnet34.csv")
    out = tmp_path / "est" / "weights.json"
    assert main(["weights", "--table", table, "--task-names", "seg,normal,depth", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["tasks"] == ["seg", "normal", "depth"]
    assert sum(document["weights"].values()) == pytest.approx(1.0)
    blocks = tmp_path / "blocks.json"
    blocks.write_text(json.dumps({"coarse_blocks": [{"flops": f, "params": 1} for f in (1, 2, 3, 4, 5)]}))
    pt = tmp_path / "performance_table.csv"
    assert main(["performance-table", "--table", table, "--blocks", "5", "--profile", str(blocks),
                 "--task-names", "seg,normal,depth", "--out", str(pt)]) == 0
    frame = pd.read_csv(pt)
    assert list(frame.columns) == ["id", "layout", "est_seg", "est_normal", "est_depth", "score",
                                   "flops", "params", "flops_pct", "params_pct"]
    assert len(frame) == 51 and frame.loc[0, "flops"] == 15


def test_recommend_from_the_stored_table(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         two_task_tables: Path) -> None:
    """The workflow's way: enumerate, weights, performance table from both, then one lookup per budget."""
    table = str(two_task_tables / "nyuv2_deeplab_resnet34.csv")
    layouts, weights = tmp_path / "layouts.csv", tmp_path / "weights.json"
    pt, npz = tmp_path / "performance_table.csv", tmp_path / "performance_table.npz"
    assert main(["enumerate", "--tasks", "3", "--blocks", "5", "--format", "csv", "--out", str(layouts)]) == 0
    assert main(["weights", "--table", table, "--task-names", "seg,normal,depth", "--out", str(weights)]) == 0
    assert main(["performance-table", "--table", table, "--blocks", "5", "--task-names", "seg,normal,depth",
                 "--block-flops", FRACTIONS, "--layouts", str(layouts), "--weights", str(weights),
                 "--out", str(pt), "--npz", str(npz)]) == 0
    fresh = ["--table", table, "--blocks", "5", "--task-names", "seg,normal,depth", "--block-flops", FRACTIONS]
    for fmt in ("csv", "table", "json"):
        query = ["--budget", "2", "--top-k", "4", "--format", fmt]
        outputs = []
        for source in (["--performance-table", str(npz)], ["--performance-table", str(pt)], fresh):
            assert main(["recommend", *source, *query]) == 0
            outputs.append(capsys.readouterr().out)
        assert outputs[0] == outputs[1] == outputs[2], fmt
    assert outputs[0].startswith("[\n") and len(json.loads(outputs[0])) == 4


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["recommend", "--budget", "2"], "give --performance-table FILE, or --table FILE with --blocks B"),
        (["recommend", "--performance-table", "pt.npz", "--table", "{nyu}"], "--performance-table already holds"),
        (["recommend", "--performance-table", "missing.npz"], "missing.npz: performance table not found"),
        (["performance-table", "--table", "{nyu}", "--blocks", "5", "--weights", "no.json", "--out", "x.csv"],
         "no.json: weights file not found"),
        (["performance-table", "--table", "{nyu}", "--blocks", "5", "--layouts", "no.csv", "--out", "x.csv"],
         "no.csv: layouts file not found"),
        (["recommend", "--table", "missing.csv", "--blocks", "5"], "not found"),
        (["recommend", "--table", "{nyu}", "--blocks", "4"], "4 blocks were requested"),
        (["recommend", "--table", "{nyu}", "--blocks", "5", "--budget", "lots"], "budget 'lots'"),
        (["recommend", "--table", "{nyu}", "--blocks", "5", "--block-flops", "1,2"], "expected 5 values"),
        (["recommend", "--table", "{nyu}", "--blocks", "5", "--top-k", "0"], "--top-k"),
        (["enumerate", "--tasks", "0", "--blocks", "5"], "--tasks"),
    ],
)
def test_user_errors_exit_2(argv: list[str], fragment: str, two_task_tables: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    nyu = str(two_task_tables / "nyuv2_deeplab_resnet34.csv")
    assert main([a.replace("{nyu}", nyu) for a in argv]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("treemtl: error:") and fragment in lines[0]


def test_console_script_error(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "treemtl"
    result = subprocess.run([str(script), "recommend", "--table", str(tmp_path / "no.csv"), "--blocks", "5"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("treemtl: error:") and "no.csv" in result.stderr
