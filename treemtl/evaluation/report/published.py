"""The paper's published comparison rows (Tables 4, 11, 12, 13; Tables 5 and 6 repeat 12 and 13):
reference data typed in from the paper, never measured here, set beside a run's measured rows.

``published/<dataset>.csv`` holds, per paper table, the "Ind. models" row and one row per method
(Cross-Stitch, Sluice, NDDR-CNN, MTAN, Learn-to-Branch, BMTAS, DEN, AdaShare, AutoMTL, What-to-Share,
Task-Grouping and the paper's own top-1) as printed. Each row's Δ is recomputed here from its
printed absolute values against its table's "Ind. models" row, with the same
:func:`treemtl.core.relative_performance.relative_performance` and metric directions as the
measured rows (the printed Δt is kept beside it), so the two kinds of rows are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from pathlib import Path

import numpy as np
import pandas as pd

from treemtl.errors import TreeMTLError

if TYPE_CHECKING:
    from treemtl.evaluation.report.comparison import Context

FOLDER = Path(__file__).with_name("published")
#: data.dataset -> the published file of that dataset.
DATASETS: dict[str, str] = {"nyuv2": "nyuv2", "nyuv2_mtan": "nyuv2", "taskonomy": "taskonomy"}
#: backbone.name -> the backbone of the paper's tables.
BACKBONES: dict[str, str] = {"deeplab_resnet34": "deeplab_resnet34", "mobilenet_v2": "mobilenet_v2",
                             "mobilenet_v2_paper": "mobilenet_v2"}
#: Metrics the paper prints in % that this project measures as fractions.
PRINTED_IN_PERCENT: frozenset[str] = frozenset({"miou", "pixel_acc"})
INDEPENDENT = "Ind. models"


@dataclass(frozen=True)
class PublishedRow:
    """One printed row: its table, method, cost change (%), metrics in this project's units, the
    Δ recomputed per task and overall, and the Δt the paper printed."""

    table: str
    method: str
    flops_pct: float | None
    params_pct: float | None
    metrics: dict[str, dict[str, float]]
    deltas: dict[str, float] | None
    delta_t: float | None
    printed_delta_t: float | None
    printed_deltas: dict[str, float | None]


def _value(raw: object) -> float | None:
    return None if raw is None or (isinstance(raw, float) and np.isnan(raw)) else float(raw)  # type: ignore[arg-type]


def _read(name: str) -> pd.DataFrame:
    path = FOLDER / f"{name}.csv"
    try:
        return pd.read_csv(path, comment="#")
    except (OSError, ValueError) as error:
        raise TreeMTLError(f"{path}: cannot read the published rows ({error})") from None


def _directions(task: str) -> dict[str, bool]:
    """Direction of every metric a built-in task may be printed with (standard and loss metrics)."""
    from treemtl.training import registry
    from treemtl.training.tasks import task_loss_spec, task_spec

    entry = registry.task(task)
    return {m.name: m.higher_is_better for m in task_loss_spec(task_spec(entry), entry.type).metrics}


def published_rows(dataset: str, backbone: str) -> list[PublishedRow]:
    """The published rows for a config's ``data.dataset`` and ``backbone.name`` (empty when the
    paper has no comparison table for them), the "Ind. models" row first."""
    from treemtl.core.relative_performance import overall_relative_performance

    if dataset not in DATASETS or backbone not in BACKBONES:
        return []
    frame = _read(DATASETS[dataset])
    frame = frame[frame["backbone"] == BACKBONES[backbone]]
    columns = [c for c in frame.columns if "." in c]
    tasks = list(dict.fromkeys(c.split(".", 1)[0] for c in columns))
    rows: list[PublishedRow] = []
    reference: dict[str, dict[str, float]] = {}
    for record in frame.to_dict("records"):
        metrics: dict[str, dict[str, float]] = {task: {} for task in tasks}
        for column in columns:
            task, metric = column.split(".", 1)
            value = _value(record[column])
            if value is not None:
                metrics[task][metric] = value / 100.0 if metric in PRINTED_IN_PERCENT else value
        if record["method"] == INDEPENDENT:
            reference = metrics
            deltas, delta_t = None, None
        else:
            if not reference:
                raise TreeMTLError(f"{FOLDER / DATASETS[dataset]}.csv: {record['table']} has no '{INDEPENDENT}' row before its methods")
            directions = {task: {m: _directions(task)[m] for m in reference[task]} for task in tasks}
            delta_t, per_task = overall_relative_performance(tasks, metrics, reference, directions,
                                                             f"published {record['table']} {record['method']}")
            deltas = {task: delta.percent for task, delta in per_task.items()}
        rows.append(PublishedRow(
            table=str(record["table"]), method=str(record["method"]), flops_pct=_value(record["flops_pct"]),
            params_pct=_value(record["params_pct"]), metrics=metrics, deltas=deltas, delta_t=delta_t,
            printed_delta_t=_value(record["delta_t"]),
            printed_deltas={task: _value(record[f"delta_{task}"]) for task in tasks},
        ))
    return rows


def published_table(ctx: Context) -> pd.DataFrame | None:
    """The paper's published comparison rows for the run's dataset and backbone, beside the run's
    measured reference rows and its top-1 layout without a budget and within each budget; None
    when the paper prints no comparison for them. Published rows say so in ``Source``."""
    from treemtl.evaluation.report.comparison import short

    config = ctx.config
    published = published_rows(config.data.dataset, config.backbone.name)
    if not published:
        return None
    rows: list[dict[str, object]] = []
    for entry in published:
        row: dict[str, object] = {"Method": entry.method, "Model": None, "Layout": None,
                                  "FLOPs vs ind. (%)": entry.flops_pct, "Params vs ind. (%)": entry.params_pct,
                                  "Score": None}
        for task in ctx.tasks:
            for metric, value in entry.metrics.get(task, {}).items():
                row[f"{short(task)} {metric}"] = value
            row[f"Δ{short(task)}"] = None if entry.deltas is None else entry.deltas.get(task)
        row["Δt"] = entry.delta_t
        row["Δt (printed)"] = entry.printed_delta_t
        row["Source"] = f"published, paper {entry.table}"
        rows.append(row)
    measured = ctx.reference_rows()
    for row in measured:
        row["Method"] = "measured " + str(row.pop("Model"))
        row["Model"] = None
    rows += measured
    picks = [("Top-1 w/o budget", ctx.top(1))]
    picks += [(f"Top-1 within {budget:g} models", ctx.top(1, budget)) for budget in config.recommend.budgets]
    for label, ids in picks:
        row = ctx.row(f"#{ids[0]}" if ids else "none fits", ids[0] if ids else None)
        row["Method"] = f"measured {label}"
        rows.append(row)
    frame = pd.DataFrame(rows)
    first = ["Method", "Model"]
    return frame[first + [c for c in frame.columns if c not in first]]
