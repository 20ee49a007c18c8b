"""A run's own curves: the CSV logger's metrics.csv read back and the loss plot a training run writes (loss.png).
The study package's plots build on these (qa_lab.study.plots)."""

from __future__ import annotations

import csv
from pathlib import Path

from matplotlib.figure import Figure


def new_figure(*grid, figsize: tuple[float, float], layout: str | None = None, **kw) -> tuple[Figure, object]:
    """A Figure of its own and its axes (Figure.subplots' arguments): no pyplot, so importing this module leaves
    the backend alone (a notebook's inline display, a script's Agg) and figures are freed with their last use."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(*grid, **kw)


def read_metrics(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """The CSV logger's metrics.csv -> {metric: [(step, value), ...]}."""
    path = Path(run_dir) / "logs" / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no metrics (is {run_dir} a qa-lab run folder?)")
    series: dict[str, list[tuple[int, float]]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def plot_losses(run_dir: str | Path) -> Figure:
    """Training and validation loss per step, overall and per task."""
    series = read_metrics(run_dir)
    fig, ax = new_figure(figsize=(7, 4))
    for key in sorted(series):
        if not key.endswith("loss") or key.endswith("_epoch"):
            continue
        steps, values = zip(*series[key])
        style = "-" if key.startswith("train") else "o--"
        ax.plot(steps, values, style, label=key.removesuffix("_step"), alpha=0.9)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_yscale("log")
    ax.set_title(Path(run_dir).parent.name)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
