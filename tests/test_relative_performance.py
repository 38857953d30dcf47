"""Δ: one function, one policy for missing, zero and non-finite metrics."""

from __future__ import annotations

import pytest

from treemtl.core.relative_performance import Delta, overall_relative_performance, relative_performance, skipped_note
from treemtl.errors import TreeMTLError
from treemtl.training.tasks import get_task, task_directions

SEG = get_task("segment_semantic").directions
DEPTH = get_task("depth_zbuffer").directions
KEYPOINTS = get_task("keypoints2d").directions


def test_signs_follow_metric_directions() -> None:
    ref_seg = {"miou": 0.4, "pixel_acc": 0.8}
    assert relative_performance("segment_semantic", {"miou": 0.5, "pixel_acc": 0.8}, ref_seg, SEG).percent == pytest.approx(12.5)
    assert relative_performance("segment_semantic", {"miou": 0.3, "pixel_acc": 0.8}, ref_seg, SEG).percent == pytest.approx(-12.5)
    # lower-is-better improvements give a positive Δ
    assert relative_performance("keypoints2d", {"error": 0.09}, {"error": 0.1}, KEYPOINTS).percent == pytest.approx(10.0)
    assert relative_performance("keypoints2d", {"error": 0.12}, {"error": 0.1}, KEYPOINTS).percent == pytest.approx(-20.0)
    ref_depth = {"abs_err": 0.5, "rel_err": 0.2, "delta_1": 50.0, "delta_2": 80.0, "delta_3": 90.0}
    new_depth = {"abs_err": 0.4, "rel_err": 0.2, "delta_1": 55.0, "delta_2": 80.0, "delta_3": 90.0}
    assert relative_performance("depth_zbuffer", new_depth, ref_depth, DEPTH).percent == pytest.approx((20 + 0 + 10 + 0 + 0) / 5)
    assert relative_performance("depth_zbuffer", ref_depth, ref_depth, DEPTH) == Delta(0.0, ())


def test_overall_is_the_mean_over_tasks() -> None:
    tasks = ["segment_semantic", "keypoints2d"]
    total, per_task = overall_relative_performance(
        tasks,
        {"segment_semantic": {"miou": 0.5, "pixel_acc": 0.8}, "keypoints2d": {"error": 0.12}},
        {"segment_semantic": {"miou": 0.4, "pixel_acc": 0.8}, "keypoints2d": {"error": 0.1}},
        task_directions(tasks),
    )
    assert total == pytest.approx((12.5 - 20) / 2)
    assert per_task["keypoints2d"].percent == pytest.approx(-20.0)


def test_zero_or_non_finite_reference_metrics_are_left_out_and_reported() -> None:
    reference = {"abs_err": 0.5, "rel_err": 0.2, "delta_1": 0.0, "delta_2": float("nan"), "delta_3": 0.5}
    metrics = {"abs_err": 0.4, "rel_err": 0.2, "delta_1": 0.1, "delta_2": 0.2, "delta_3": 0.55}
    delta = relative_performance("depth_zbuffer", metrics, reference, DEPTH, "pairs/x/metrics.json")
    assert delta.skipped == ("delta_1", "delta_2")
    assert delta.percent == pytest.approx(100 * (0.2 + 0.0 + 0.1) / 3)
    assert skipped_note("depth_zbuffer", delta, "pairs/x/metrics.json") == (
        "pairs/x/metrics.json: depth_zbuffer: reference delta_1, delta_2 is 0 or not finite; left out of Δ"
    )
    assert skipped_note("depth_zbuffer", Delta(1.0)) == ""


@pytest.mark.parametrize(
    ("metrics", "reference", "message"),
    [
        ({"miou": 0.5, "pixel_acc": 0.8}, {"miou": 0.4}, r"f.json: segment_semantic: the single-task reference has no metric 'pixel_acc'"),
        ({"miou": 0.5}, {"miou": 0.4, "pixel_acc": 0.8}, r"f.json: segment_semantic: metric 'pixel_acc' is missing"),
        ({"miou": 0.5, "pixel_acc": 0.8}, {"miou": 0.0, "pixel_acc": 0.0}, r"every reference metric \(miou, pixel_acc\) is 0"),
        ({"miou": float("nan"), "pixel_acc": 0.8}, {"miou": 0.4, "pixel_acc": 0.8}, r"metric 'miou' is nan \(diverged"),
    ],
)
def test_undefined_delta_names_task_metric_and_file(metrics: dict, reference: dict, message: str) -> None:
    with pytest.raises(TreeMTLError, match=message):
        relative_performance("segment_semantic", metrics, reference, SEG, "f.json")


def test_overall_names_missing_tasks() -> None:
    with pytest.raises(TreeMTLError, match="no single-task reference for task 'normal'"):
        overall_relative_performance(["normal"], {"normal": {}}, {}, task_directions(["normal"]))
    with pytest.raises(TreeMTLError, match="run.json: no metrics for task 'normal'"):
        overall_relative_performance(["normal"], {}, {}, task_directions(["normal"]), "run.json")
