"""Large design spaces: streamed enumeration, ids without enumerating, search or table by size, the landscape."""

from __future__ import annotations

import itertools
import json
import random
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from treemtl.cli import main
from treemtl.cli.enumerate import lines
from treemtl.core.best_layouts import SEARCH_ABOVE, TABLE_LIMIT, recommend_layouts, uses_search
from treemtl.core.cost import BlockProfile, parse_budget
from treemtl.core.estimator import TwoTaskTable
from treemtl.core.landscape import front_budgets, sampled_ids, score_landscape
from treemtl.core.layout import (
    Layout,
    count_chains,
    enumerate_layouts,
    iter_chains,
    layout_from_id,
    layout_id,
    layout_space,
)
from treemtl.core.recommend import pareto_front, performance_table, top_k
from treemtl.errors import TreeMTLError
from treemtl.training.config import config_schema

FRACTIONS = "0.0057,0.0404,0.0507,0.3093,0.5939"
RESNET34 = BlockProfile((0.0057, 0.0404, 0.0507, 0.3093, 0.5939), (0.0004, 0.0104, 0.0525, 0.3205, 0.6161))


def walk_table(num_tasks: int, num_blocks: int, seed: int) -> TwoTaskTable:
    """Δ of each task in each pair: a random walk over the branches (0 at branch 0)."""
    rng = np.random.default_rng(seed)
    delta = np.zeros((num_tasks, num_tasks, num_blocks + 1))
    delta[:, :, 1:] = np.cumsum(rng.normal(0.0, 2.0, size=(num_tasks, num_tasks, num_blocks)), axis=2)
    return TwoTaskTable(tuple(f"t{i}" for i in range(num_tasks)), delta, f"walk seed {seed}")


def write_tidy(table: TwoTaskTable, path: Path) -> Path:
    """The table as a tidy CSV (task_a,task_b,branch,delta_a,delta_b), the form `--table` reads."""
    rows = [(table.tasks[a], table.tasks[b], k, table.delta[a, b, k], table.delta[b, a, k])
            for a, b in itertools.combinations(range(table.num_tasks), 2) for k in range(table.num_blocks + 1)]
    pd.DataFrame(rows, columns=["task_a", "task_b", "branch", "delta_a", "delta_b"]).to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- enumeration and ids
@pytest.mark.parametrize(("tasks", "blocks"), [(t, b) for t in range(1, 6) for b in range(1, 6)] + [(6, 3)])
def test_streamed_enumeration_is_the_paper_order(tasks: int, blocks: int) -> None:
    space = layout_space(tasks, blocks)
    expected = [tuple(space.partitions[k] for k in row) for row in space.chains.tolist()]
    assert list(iter_chains(tasks, blocks)) == expected


def test_enumeration_streams_in_bounded_memory(tmp_path: Path) -> None:
    """Writing 44,590 layouts holds far less than the output: nothing is materialised."""
    out = tmp_path / "layouts.jsonl"
    main(["enumerate", "--tasks", "2", "--blocks", "2", "--out", str(out)])  # imports done before measuring
    tracemalloc.start()
    try:
        assert main(["enumerate", "--tasks", "6", "--blocks", "4", "--out", str(out)]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = out.stat().st_size
    assert sum(1 for _ in out.open()) == count_chains(6, 4)
    assert peak < size / 4, f"peak {peak} bytes for {size} bytes written"


def test_enumeration_of_a_huge_space_yields_at_once() -> None:
    """45.6 million layouts at T=8: the first ones come without enumerating the rest."""
    first = list(itertools.islice(lines(8, 5, "csv"), 3))
    assert first == ["id,layout\n", "0,01234567|01234567|01234567|01234567|01234567\n",
                     '1,"0,1234567|0,1234567|0,1234567|0,1234567|0,1234567"\n']
    chains = iter_chains(8, 5)
    assert next(chains) == (((1 << 8) - 1,),) * 5


def test_layout_from_id_is_the_enumeration() -> None:
    for tasks, blocks in ((3, 5), (4, 4), (5, 3)):
        assert [layout_from_id(i, tasks, blocks) for i in range(count_chains(tasks, blocks))] == \
            enumerate_layouts(tasks, blocks)


@pytest.mark.parametrize("tasks", [7, 8, 10, 12, 14])
def test_ids_round_trip_without_enumerating(tasks: int) -> None:
    total = count_chains(tasks, 5)
    ids = [0, 1, total - 1, *random.Random(tasks).sample(range(total), 30)]
    for index in ids:
        layout = layout_from_id(index, tasks, 5)
        assert layout.num_tasks == tasks and layout_id(layout) == index
    assert layout_id(Layout.independent(tasks, 5)) < total
    with pytest.raises(TreeMTLError, match="out of range"):
        layout_from_id(total, tasks, 5)


# --------------------------------------------------------------------------- table or search
def test_threshold() -> None:
    assert SEARCH_ABOVE == config_schema()["properties"]["recommend"]["properties"]["search_above"]["default"]
    assert not uses_search(6, 5)  # 120,196 layouts: scored
    assert uses_search(7, 5) and uses_search(6, 6)  # 2,201,856 and 274,778: searched
    assert not uses_search(3, 5, search_above=51) and uses_search(3, 5, search_above=50)


def test_auto_scores_small_spaces_and_searches_large_ones() -> None:
    small = recommend_layouts(walk_table(5, 5, 1), 5, parse_budget("2"), RESNET34)
    assert small.method == "table" and small.stats is None
    large = recommend_layouts(walk_table(7, 5, 1), 5, parse_budget("3"), RESNET34)
    assert large.method == "search" and large.stats.space_size == 2_201_856
    assert len(large.rows) == 5 and (large.rows["flops_pct"] <= 3 / 7 * 100 + 1e-9).all()
    assert [layout_id(Layout.parse(text)) for text in large.rows["layout"]] == large.rows["id"].tolist()
    forced = recommend_layouts(walk_table(5, 5, 1), 5, parse_budget("2"), RESNET34, method="search")
    assert forced.method == "search" and forced.rows["id"].tolist() == small.rows["id"].tolist()


def test_a_forced_table_beyond_its_limit_is_refused() -> None:
    assert count_chains(8, 5) > TABLE_LIMIT
    with pytest.raises(TreeMTLError, match="too many to score one by one.*--method search"):
        recommend_layouts(walk_table(8, 5, 0), 5, method="table")


@pytest.mark.parametrize("tasks", [5, 6])
@pytest.mark.parametrize("budget", [None, "2", "60%"])
def test_cli_search_and_table_agree(tasks: int, budget: str | None, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    table = write_tidy(walk_table(tasks, 5, tasks), tmp_path / "table.csv")
    answers = {}
    for method in ("table", "search"):
        args = ["recommend", "--table", str(table), "--blocks", "5", "--block-flops", FRACTIONS, "--top-k", "10",
                "--format", "json", "--method", method, *(["--budget", budget] if budget else [])]
        assert main(args) == 0
        answers[method] = json.loads(capsys.readouterr().out)
    scored, searched = answers["table"], answers["search"]
    assert len(scored) == 10
    assert [(r["id"], r["layout_text"], r["flops_pct"]) for r in searched] == \
        [(r["id"], r["layout_text"], r["flops_pct"]) for r in scored]
    np.testing.assert_allclose([r["score"] for r in searched], [r["score"] for r in scored], rtol=1e-12)


def test_cli_csv_of_a_searched_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = write_tidy(walk_table(7, 5, 2), tmp_path / "table.csv")
    assert main(["recommend", "--table", str(table), "--blocks", "5", "--budget", "3", "--top-k", "3",
                 "--format", "csv"]) == 0
    frame = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert list(frame.columns) == ["id", "layout", *(f"est_t{i}" for i in range(7)), "score", "flops", "params",
                                   "flops_pct", "params_pct"]
    assert frame["id"].tolist() == [layout_id(Layout.parse(text)) for text in frame["layout"]]


@pytest.mark.parametrize(
    ("shape", "extra", "message"),
    [
        ((15, 1), [], "the search supports at most 14 tasks, the table has 15"),
        ((2, 33), ["--method", "search"], "the search supports at most 32 blocks, the table has 33"),
        ((5, 5), ["--method", "search", "--max-nodes", "5", "--top-k", "50"],
         "stopped at the node limit (5 nodes) after"),
        ((5, 5), ["--blocks", "4"], "table has branches 0..5 (5 blocks) but 4 blocks were requested"),
    ],
)
def test_cli_bad_input_is_one_line(shape: tuple[int, int], extra: list[str], message: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    table = write_tidy(walk_table(*shape, 0), tmp_path / "table.csv")
    args = ["recommend", "--table", str(table), "--blocks", str(shape[1]), "--method", "auto", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("treemtl: error: ") and message in err


def test_cli_method_needs_a_two_task_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", "--performance-table", str(tmp_path / "pt.npz"), "--method", "search"]) == 2
    assert "give it without" in capsys.readouterr().err


# --------------------------------------------------------------------------- the score landscape
def test_landscape_front_and_sample_are_the_table_rows() -> None:
    table = walk_table(5, 5, 3)
    full = performance_table(table, RESNET34)
    landscape = score_landscape(table, RESNET34, sample=100, seed=4)
    front = landscape[landscape["kind"] == "front"]
    sample = landscape[landscape["kind"] == "sample"]
    assert set(front["id"]) <= set(pareto_front(full, "flops")["id"])
    assert front["flops"].is_monotonic_increasing and front["score"].is_monotonic_increasing
    for budget in front_budgets(5):  # each budget's best is on the front
        best = top_k(full, 1, budget).iloc[0]
        assert best["score"] <= front["score"].max() + 1e-12
        assert front[front["flops"] <= best["flops"] + 1e-12]["score"].max() == pytest.approx(best["score"])
    assert sample["id"].tolist() == sampled_ids(5, 5, 100, 4)
    assert {0, layout_id(Layout.independent(5, 5))} <= set(sample["id"]) and len(sample) >= 100
    expected = full.set_index("id").loc[sample["id"]]
    assert sample["layout"].tolist() == expected["layout"].tolist()
    np.testing.assert_allclose(sample["score"], expected["score"], rtol=1e-12)
    np.testing.assert_array_equal(sample["flops_pct"], expected["flops_pct"])


def test_sample_is_seeded() -> None:
    assert sampled_ids(7, 5, 50, 1) == sampled_ids(7, 5, 50, 1) != sampled_ids(7, 5, 50, 2)
    assert sampled_ids(3, 2, 1000, 0) == list(range(12))  # a space smaller than the sample: all of it
    budgets = front_budgets(7)
    assert len(budgets) == 20 and float(budgets[0].value) == 1 and float(budgets[-1].value) == 7


def test_score_landscape_cli(tmp_path: Path) -> None:
    table = walk_table(7, 5, 5)
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"weights": {task: 1 / 7 for task in table.tasks}}))
    out = tmp_path / "score_landscape.csv"
    assert main(["score-landscape", "--table", str(write_tidy(table, tmp_path / "t.csv")), "--blocks", "5",
                 "--block-flops", FRACTIONS, "--weights", str(weights), "--sample", "200", "--seed", "3",
                 "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns[:3]) == ["kind", "id", "layout"]
    assert (frame["kind"] == "sample").sum() == 202 and (frame["kind"] == "front").sum() >= 2
    top = recommend_layouts(table, 1, profile=BlockProfile.from_strings(FRACTIONS, None, 5),
                            weights=np.full(7, 1 / 7)).rows
    assert frame[frame["kind"] == "front"]["id"].iloc[-1] == top["id"].iloc[0]  # no budget: the best of all
