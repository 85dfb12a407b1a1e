"""Writing a model comparison (CSV, Markdown and a bar chart) or a model-vs-model agreement
table, each written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.io.atomic import atomic_write


def score_text(value: float, digits: int = 3) -> str:
    """A score as the report writes it: rounded, n/a where there was nothing to count."""
    return "n/a" if np.isnan(value) else f"{value:.{digits}f}"


def report_markdown(report: pd.DataFrame, *, digits: int = 3) -> str:
    """A GitHub-flavoured Markdown table (counts as integers, scores rounded, n/a where a
    score has nothing to count)."""

    def cell(value) -> str:
        return score_text(float(value), digits) if isinstance(value, (float, np.floating)) else str(value)

    lines = ["| " + " | ".join(report.columns) + " |", "|" + "|".join(["---"] * len(report.columns)) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in report.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def save_report_chart(report: pd.DataFrame, path: str | Path, *, metric: str = "F1", focus: str = "lymphocyte") -> Path:
    """Grouped bars: one group per region (and the total), one bar per model."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    columns = [c for c in report.columns if c.endswith(f" {focus} {metric}")]
    models = [c[: -len(f" {focus} {metric}")] for c in columns]
    fig = Figure(figsize=(max(4.0, 1.2 * len(report) * max(1, len(models)) / 2 + 2), 3.2), dpi=120)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(models))
    positions = np.arange(len(report))
    for i, (model, column) in enumerate(zip(models, columns)):
        at, scores = positions + (i - (len(models) - 1) / 2) * width, report[column].to_numpy(float)
        ax.bar(at, scores, width, label=model)
        for x in at[np.isnan(scores)]:  # nothing to count there: said, not drawn as a 0
            ax.text(x, 0.02, "n/a", rotation=90, ha="center", va="bottom", fontsize="small")
    ax.set_xticks(positions, report["region"].astype(str), rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"{focus} {metric}")
    ax.legend(fontsize="small", loc="upper right")
    fig.tight_layout()
    path = Path(path)
    return atomic_write(path, lambda p: fig.savefig(p, format="png"))


def write_report(
    report: pd.DataFrame,
    folder: str | Path,
    *,
    stem: str = "comparison",
    counts: pd.DataFrame | None = None,
    about: Sequence[str] = (),
) -> dict[str, Path]:
    """``<stem>.csv``, ``<stem>.md``, ``<stem>.png`` (and ``<stem>_counts.csv``) in ``folder``;
    the Markdown says below its table how the comparison was made (``about``, one line each:
    the truth, the matching, how each model's file was read, the notes)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown(report)
    if about:
        markdown += "\n## How this comparison was made\n\n" + "".join(f"- {line}\n" for line in about)
    written = {
        "csv": atomic_write(folder / f"{stem}.csv", lambda p: report.to_csv(p, index=False)),
        "markdown": atomic_write(folder / f"{stem}.md", lambda p: p.write_text(markdown, encoding="utf-8")),
        "chart": save_report_chart(report, folder / f"{stem}.png"),
    }
    if counts is not None:
        written["counts"] = atomic_write(folder / f"{stem}_counts.csv", lambda p: counts.to_csv(p, index=False))
    return written


def write_agreement(table: pd.DataFrame, folder: str | Path) -> Path:
    """``agreement.csv`` (model-vs-model agreement, see ``core.compare.agreement``) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(folder / "agreement.csv", lambda p: table.to_csv(p, index=False))
