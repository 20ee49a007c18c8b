"""Plots from run folders; each function returns a matplotlib Figure."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless by default; notebooks switch to inline themselves
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


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
    fig, ax = plt.subplots(figsize=(7, 4))
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
