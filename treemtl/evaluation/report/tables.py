"""Write tables the way the paper prints them: Markdown for READMEs, CSV for tools, LaTeX for papers.

Hand-written rather than ``DataFrame.to_markdown`` so the package needs no ``tabulate``; numbers are
formatted per column (``formats``) so a Markdown table and its LaTeX twin show identical figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from treemtl.atomic import write_text_atomic

#: Default number format for float cells (two decimals, like the paper's tables).
DEFAULT_FLOAT_FORMAT = "{:.2f}"


def format_cell(value: Any, fmt: str | None = None) -> str:
    """One cell as text: NaN/None as ``-``, floats with ``fmt`` (or two decimals), rest via ``str``."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if fmt is not None:
        try:
            return fmt.format(value)
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float):
        return DEFAULT_FLOAT_FORMAT.format(value)
    return str(value)


def _cells(frame: pd.DataFrame, formats: Mapping[str, str] | None) -> list[list[str]]:
    formats = dict(formats or {})
    return [
        [format_cell(value, formats.get(str(column))) for column, value in zip(frame.columns, row)]
        for row in frame.itertuples(index=False, name=None)
    ]


def _numeric_columns(frame: pd.DataFrame) -> set[str]:
    return {str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])}


def to_markdown(frame: pd.DataFrame, formats: Mapping[str, str] | None = None) -> str:
    """GitHub-flavoured Markdown table; numeric columns right-aligned, pipes in cells escaped."""
    header = [str(c) for c in frame.columns]
    numeric = _numeric_columns(frame)
    rows = [[cell.replace("|", "\\|") for cell in row] for row in _cells(frame, formats)]
    header_cells = [h.replace("|", "\\|") for h in header]
    widths = [max([len(h), 3] + [len(r[i]) for r in rows]) for i, h in enumerate(header_cells)]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(width) if name in numeric else cell.ljust(width)
            for cell, width, name in zip(cells, widths, header)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [("-" * (w - 1) + ":") if name in numeric else "-" * w for w, name in zip(widths, header)]
    return "\n".join([line(header_cells), "| " + " | ".join(rule) + " |", *[line(r) for r in rows]]) + "\n"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (task names contain ``_``, ids start with ``#``)."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def to_latex(frame: pd.DataFrame, formats: Mapping[str, str] | None = None, caption: str | None = None) -> str:
    """A ``booktabs`` tabular (wrapped in a table float when ``caption`` is given)."""
    numeric = _numeric_columns(frame)
    spec = "".join("r" if str(c) in numeric else "l" for c in frame.columns)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    lines.append(" & ".join(latex_escape(str(c)) for c in frame.columns) + r" \\")
    lines.append("\\midrule")
    for row in _cells(frame, formats):
        lines.append(" & ".join(latex_escape(cell) for cell in row) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    if caption is not None:
        lines = ["\\begin{table}[t]", "\\centering", f"\\caption{{{latex_escape(caption)}}}", *lines, "\\end{table}"]
    return "\n".join(lines) + "\n"


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Full-precision CSV (no index), written atomically so readers never see half a table."""
    return write_text_atomic(path, frame.to_csv(index=False))


def write_markdown(
    frame: pd.DataFrame, path: str | Path, formats: Mapping[str, str] | None = None, title: str | None = None
) -> Path:
    """Markdown table, optionally under a ``## title`` heading."""
    text = to_markdown(frame, formats)
    if title:
        text = f"## {title}\n\n{text}"
    return write_text_atomic(path, text)


def write_latex(
    frame: pd.DataFrame, path: str | Path, formats: Mapping[str, str] | None = None, caption: str | None = None
) -> Path:
    """LaTeX ``booktabs`` table (needs ``\\usepackage{booktabs}``)."""
    return write_text_atomic(path, to_latex(frame, formats, caption))


def write_table(
    frame: pd.DataFrame,
    stem: str | Path,
    formats: Mapping[str, str] | None = None,
    title: str | None = None,
    latex: bool = False,
) -> list[Path]:
    """Write ``stem.csv`` and ``stem.md`` (and ``stem.tex`` with ``latex``); returns the paths."""
    stem = Path(stem)
    paths = [
        write_csv(frame, stem.with_suffix(".csv")),
        write_markdown(frame, stem.with_suffix(".md"), formats, title),
    ]
    if latex:
        paths.append(write_latex(frame, stem.with_suffix(".tex"), formats, caption=title))
    return paths
