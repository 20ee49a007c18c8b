"""Plots from run folders; each function returns a matplotlib Figure."""

from __future__ import annotations

import csv
import warnings
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


def plot_examples(examples: list[dict], max_words: int = 40) -> Figure:
    """One row per example: log-mel spectrogram with its ground truth overlaid (word boundaries and words,
    event spans and labels, note spans), titled with task and target. `examples` are manifest lines whose
    `audio` is an absolute path (qa_lab.world.iter_examples gives those)."""
    from qa_lab.audio import load_audio, log_mel
    from qa_lab.tasks import target

    fig, axes = plt.subplots(len(examples), 1, figsize=(10, 2.3 * len(examples)), squeeze=False)
    for ax, ex in zip(axes[:, 0], examples):
        audio = load_audio(ex["audio"], float(ex.get("offset") or 0.0), ex.get("duration"))
        mel = log_mel(audio)  # (n_mels, T) at 100 frames/s
        seconds = mel.shape[1] / 100
        ax.imshow(mel, origin="lower", aspect="auto", extent=(0, seconds, 0, mel.shape[0]), cmap="magma")
        for w in (ex.get("words") or [])[:max_words]:
            ax.axvline(w["start"], color="cyan", lw=0.6, alpha=0.7)
            ax.text(w["start"], mel.shape[0] * 0.92, w["word"], color="cyan", fontsize=7, rotation=45, va="top")
        for k, e in enumerate(ex.get("events") or []):
            ax.axvspan(e["start"], e["end"], color="lime", alpha=0.25)
            ax.text(e["start"], 4 + 12 * (k % 3), e["label"], color="lime", fontsize=8)
        for nt in ex.get("notes") or []:
            ax.axvspan(nt["start"], nt["end"], ymin=0.02, ymax=0.06, color="white", alpha=0.6)
        try:
            text = target(ex)
        except (KeyError, ValueError):
            text = "?"
        text = text if len(text) < 90 else text[:87] + "..."
        ax.set_title(f"{ex['task']}: {text}", fontsize=9, loc="left")
        ax.set_ylabel("mel bin")
    axes[-1, 0].set_xlabel("seconds")
    with warnings.catch_warnings():  # the default font has no CJK glyphs: zh words show as boxes
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.tight_layout()
    return fig
