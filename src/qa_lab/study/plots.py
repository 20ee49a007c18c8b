"""Plots from run folders; each function returns a matplotlib Figure."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from qa_lab.data.audio import load_audio, log_mel
from qa_lab.eval.harness import display
from qa_lab.example import Example
from qa_lab.prompts import tags
from qa_lab.prompts.tasks import target
from qa_lab.study.stats import mean_ci
from qa_lab.train.curves import new_figure as _subplots
from qa_lab.train.curves import plot_losses, read_metrics  # noqa: F401 -- a run's curves, re-exported for notebooks


def plot_examples(examples: list[Example], max_words: int = 40) -> Figure:
    """One row per example: log-mel spectrogram with its ground truth overlaid (word boundaries and words,
    event spans and labels, note spans), titled with task and target. `examples` are manifest lines whose
    `audio` is an absolute path (qa_lab.world.builder.iter_examples gives those)."""
    fig, axes = _subplots(len(examples), 1, figsize=(10, 2.3 * len(examples)), squeeze=False)
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


# --- task-interference probes (qa_lab.study.interference) ----------------------------------------------------------------

def _cell_text(ax, matrix, fmt) -> None:
    """Write each value of a (R, C) matrix into its imshow cell, in black or white for contrast."""
    m = np.asarray(matrix, dtype=float)
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, "n/a" if np.isnan(v) else fmt(v), ha="center", va="center", fontsize=8,
                color="black" if np.isnan(v) or abs(v) < 0.6 * np.nanmax(np.abs(m), initial=1e-12) else "white")


def plot_grad_conflict(records: list[dict], steps: list[int] | None = None) -> Figure:
    """Per-task gradient cosines from interference.read_grad_conflict: heat maps of the task x task matrix at a few
    steps (default: up to four, evenly spread from first to last record; shared colour scale -1..1) and, in the
    last panel, one line per task pair of its cosine over steps."""
    if not records:
        raise ValueError("plot_grad_conflict: no records (was the GradientConflict callback on?)")
    by_step = {r["step"]: r for r in records}
    all_steps = sorted(by_step)
    if steps is None:
        picks = np.linspace(0, len(all_steps) - 1, min(4, len(all_steps))).round().astype(int)
        steps = [all_steps[k] for k in dict.fromkeys(picks.tolist())]
    missing = [s for s in steps if s not in by_step]
    if missing:
        raise ValueError(f"plot_grad_conflict: no record at steps {missing}; recorded steps: {all_steps}")
    fig, axes = _subplots(1, len(steps) + 1, figsize=(3.2 * len(steps) + 5, 3.6), layout="constrained",
                             gridspec_kw={"width_ratios": [1] * len(steps) + [1.6]})
    im = None
    for ax, s in zip(axes[:-1], steps):
        r = by_step[s]
        cos = np.asarray(r["cosine"], dtype=float)
        im = ax.imshow(cos, cmap="RdBu", vmin=-1, vmax=1)
        ax.set_xticks(range(len(r["tasks"])), r["tasks"], rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(r["tasks"])), r["tasks"], fontsize=8)
        _cell_text(ax, cos, lambda v: f"{v:.2f}")
        ax.set_title(f"step {s}", fontsize=9)
    fig.colorbar(im, ax=list(axes[:-1]), shrink=0.8, label="gradient cosine")
    ax = axes[-1]
    pairs: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in records:
        cos = np.asarray(r["cosine"], dtype=float)
        for i, a in enumerate(r["tasks"]):
            for j in range(i + 1, len(r["tasks"])):
                pairs.setdefault((a, r["tasks"][j]), []).append((r["step"], cos[i, j]))
    for (a, b), pts in sorted(pairs.items()):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, "o-", ms=3, label=f"{a} / {b}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("step")
    ax.set_ylabel("cosine")
    ax.set_title("task pairs over training", fontsize=9)
    if pairs:
        ax.legend(fontsize=7)
    return fig


def plot_transfer_matrix(rows: list[str], cols: list[str], matrix) -> Figure:
    """interference.transfer_matrix as a heat map: relative gain over the single-task run (positive = the mixture
    helps), diverging colours centred on 0, the gain in % written in each cell."""
    m = np.asarray(matrix, dtype=float)
    lim = float(np.nanmax(np.abs(m), initial=0.0)) or 1.0
    fig, ax = _subplots(figsize=(1.2 * len(cols) + 3, 0.6 * len(rows) + 2))
    im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    _cell_text(ax, m, lambda v: f"{100 * v:+.1f} %")
    ax.set_xlabel("evaluated on")
    ax.set_ylabel("trained on")
    fig.colorbar(im, ax=ax, label="relative gain over single-task")
    fig.tight_layout()
    return fig


def plot_tag_confusion(rows: list[str], cols: list[str], matrix, title: str = "") -> Figure:
    """interference.tag_confusion as a heat map: rows = prompted task, columns = answer form, row rates 0..1."""
    m = np.asarray(matrix, dtype=float)
    fig, ax = _subplots(figsize=(0.9 * len(cols) + 3, 0.6 * len(rows) + 2))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    _cell_text(ax, m, lambda v: f"{v:.2f}")
    ax.set_xlabel("answer form of the output")
    ax.set_ylabel("tags in the prompt")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="rate")
    fig.tight_layout()
    return fig


def plot_matrices(mats: dict[str, tuple[list[str], list[str], object]], diverging: bool = False,
                  label: str = "") -> Figure:
    """One heat map per arm, side by side on one colour scale: {arm: (row names, column names, matrix)} (e.g.
    study.probes.mean_matrix). `diverging`: -1..1 red-blue (gradient cosines), else 0..1 blues (rates)."""
    fig, axes = _subplots(1, len(mats), figsize=(4.2 * len(mats) + 1, 4.2), layout="constrained", squeeze=False)
    im = None
    for ax, (arm, (rows, cols, m)) in zip(axes[0], mats.items()):
        m = np.asarray(m, dtype=float)
        im = ax.imshow(m, cmap="RdBu" if diverging else "Blues", vmin=-1 if diverging else 0, vmax=1)
        ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        _cell_text(ax, m, lambda v: f"{v:.2f}")
        ax.set_title(arm, fontsize=10)
    fig.colorbar(im, ax=list(axes[0]), shrink=0.8, label=label)
    return fig


def plot_task_losses(run_dirs: dict[str, str | Path]) -> Figure:
    """Per-task validation loss (`val/{task}/loss`) over steps, one panel per arm (shared y axis), overall
    `val/loss` dashed; each task keeps its colour across panels."""
    series = {arm: read_metrics(d) for arm, d in run_dirs.items()}
    task_of = lambda key: key.split("/")[1] if key.count("/") == 2 and key.startswith("val/") \
        and key.endswith("/loss") else None  # noqa: E731
    all_tasks = sorted({t for s in series.values() for k in s if (t := task_of(k))})
    colour = {t: f"C{k % 10}" for k, t in enumerate(all_tasks)}
    fig, axes = _subplots(1, len(series), figsize=(4.5 * len(series), 3.6), sharey=True, squeeze=False)
    for ax, (arm, s) in zip(axes[0], series.items()):
        for key in sorted(s):
            if (t := task_of(key)) is not None:
                steps, values = zip(*s[key])
                ax.plot(steps, values, "o-", ms=3, color=colour[t], label=t)
        if "val/loss" in s:
            steps, values = zip(*s["val/loss"])
            ax.plot(steps, values, "k--", lw=1, label="all")
        ax.set_title(arm, fontsize=10)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("validation loss (nats/token)")
    fig.tight_layout()
    return fig


def _metric_title(task: str, metric: str) -> str:
    """'asr', 'wer[en]' -> 'asr: WER (en) ↓' (the metric's display name and which way is better)."""
    base = metric.split("[")[0]
    name, higher = display(metric)
    suffix = metric[len(base):].strip("[]")
    return f"{task}: {name}{' (' + suffix + ')' if suffix else ''} {'↑' if higher else '↓'}"


def plot_learning_curves(run_dirs: dict[str, str | Path], metrics: list[str]) -> Figure:
    """Held-out task metrics against training steps (`val/{task}/{metric}`, logged by trainer.val_decode_per_task),
    one panel per `task/metric`, one line per run; runs whose label starts with the same arm share a colour.

    `run_dirs`: {"srwt_on seed 0": run folder, ...}; a metric no run logged gets an empty panel saying so."""
    series = {label: read_metrics(d) for label, d in run_dirs.items()}
    arms = list(dict.fromkeys(label.split(" ")[0] for label in series))
    fig, axes = _subplots(1, len(metrics), figsize=(3.0 * len(metrics) + 0.6, 3.2), squeeze=False)
    for ax, tm in zip(axes[0], metrics):
        task, metric = tm.split("/", 1)
        drawn = False
        for label, s in series.items():
            points = s.get(f"val/{task}/{metric}")
            if points:
                steps, values = zip(*points)
                arm = label.split(" ")[0]
                ax.plot(steps, values, "o-", ms=3, color=f"C{arms.index(arm)}", alpha=0.8, label=arm)
                drawn = True
        ax.set_title(_metric_title(task, metric), fontsize=9)
        ax.set_xlabel("step")
        if drawn:
            handles, labels = ax.get_legend_handles_labels()
            keep = dict(zip(labels, handles))  # one entry per arm, not per seed
            ax.legend(keep.values(), keep.keys(), fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    fig.suptitle("held-out (validation) metrics during training", fontsize=10)
    fig.tight_layout()
    return fig


def plot_ablation(rows: list[dict], metrics: list[str], arms: list[str], eval_name: str | None = None) -> Figure:
    """One panel per `task/metric`: each arm's mean over seeds with its 95 % t-interval, seeds as dots.

    `rows` are the ablation runner's results.csv rows ({arm, seed, eval, task, metric, value})."""
    eval_name = eval_name or (rows[0]["eval"] if rows else "")
    fig, axes = _subplots(1, len(metrics), figsize=(2.6 * len(metrics) + 0.6, 3.2), squeeze=False)
    for ax, tm in zip(axes[0], metrics):
        task, metric = tm.split("/", 1)
        for k, arm in enumerate(arms):
            vals = [float(r["value"]) for r in rows if r["arm"] == arm and r["task"] == task
                    and r["metric"] == metric and r["eval"] == eval_name]
            if not vals:
                continue
            m, lo, hi = mean_ci(vals)
            err = None if lo != lo else [[m - lo], [hi - m]]  # nan check: one seed, no interval
            ax.bar(k, m, color=f"C{k}", alpha=0.6, yerr=err, capsize=4)
            ax.plot([k] * len(vals), vals, "k.", ms=5)
        ax.set_title(_metric_title(task, metric), fontsize=9)
        ax.set_xticks(range(len(arms)), arms, rotation=20, fontsize=8)
    fig.suptitle(f"{eval_name}: mean over seeds, 95 % CI", fontsize=10)
    fig.tight_layout()
    return fig


# --- inside one example (qa_lab.study.introspection.audio_frames, attention_to_audio)----------------------------------------

def _word_lines(ax, words, y_text: float | None = None) -> None:
    """Reference word starts as dotted lines, each word written at its start (y_text in axis coordinates)."""
    for w in words or []:
        ax.axvline(w["start"], color="cyan", lw=0.7, ls=":")
        if y_text is not None:
            ax.text(w["start"], y_text, w["word"], color="tab:cyan", fontsize=7, rotation=45, va="bottom",
                    transform=ax.get_xaxis_transform())


def plot_audio_frames(frames, frame_seconds: float = 0.04, words: list[dict] | None = None,
                      n_components: int = 8) -> Figure:
    """The audio frames an LLM reads, (T_audio, d) from introspection.audio_frames: their first principal components
    over time (an image, one row per component, each scaled to its own range) and each frame's L2 norm, with
    reference word starts (dotted) when `words` are given."""
    x = np.asarray(frames, dtype=float)
    centred = x - x.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(n_components, len(s))
    pcs = centred @ vt[:k].T  # (T, k)
    pcs = pcs / np.maximum(np.abs(pcs).max(0), 1e-12)
    explained = s[:k] ** 2 / max(float((s ** 2).sum()), 1e-12)
    seconds = len(x) * frame_seconds
    fig, axes = _subplots(2, 1, figsize=(10, 4.6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    axes[0].imshow(pcs.T, aspect="auto", origin="lower", cmap="RdBu", vmin=-1, vmax=1,
                   extent=(0, seconds, -0.5, k - 0.5))
    axes[0].set_yticks(range(k), [f"PC{i + 1} {100 * e:.0f}%" for i, e in enumerate(explained)], fontsize=7)
    axes[0].set_title(f"audio frames: {len(x)} x {x.shape[1]} ({1 / frame_seconds:.0f}/s), principal components",
                      fontsize=9, loc="left", pad=30 if words else 6)
    t = (np.arange(len(x)) + 0.5) * frame_seconds
    axes[1].plot(t, np.linalg.norm(x, axis=1), color="k", lw=1)
    axes[1].set_ylabel("L2 norm")
    axes[1].set_xlabel("seconds")
    _word_lines(axes[0], words, 1.0)
    _word_lines(axes[1], words)
    fig.tight_layout()
    return fig


def plot_attention_to_audio(attention, tokens: list[str] | None = None, frame_seconds: float = 0.04,
                            words: list[dict] | None = None, title: str = "") -> Figure:
    """introspection.attention_to_audio as a heat map: one row per output token (labelled with `tokens`), audio time
    on x; reference word starts dotted and labelled when `words` are given. Each row is scaled to its own maximum,
    so where a token looks shows even when most of its attention goes to the prompt."""
    a = np.asarray(attention, dtype=float)
    rows = a / np.maximum(a.max(1, keepdims=True), 1e-12)
    seconds = a.shape[1] * frame_seconds
    fig, ax = _subplots(figsize=(10, 0.22 * len(a) + 1.8))
    ax.imshow(rows, aspect="auto", cmap="viridis", extent=(0, seconds, len(a) - 0.5, -0.5), vmin=0, vmax=1,
              interpolation="nearest")
    if tokens is not None:
        if len(tokens) != len(a):
            raise ValueError(f"plot_attention_to_audio: {len(tokens)} tokens for {len(a)} attention rows")
        ax.set_yticks(range(len(a)), tokens, fontsize=7)
    ax.set_ylabel("output token")
    ax.set_xlabel("audio time (s)")
    _word_lines(ax, words, 1.0)
    mass = a.sum(1).mean()
    ax.set_title(title or f"attention to the audio (each row scaled to its max; mean mass on audio {mass:.2f})",
                 fontsize=9, loc="left", pad=30 if words else 6)
    fig.tight_layout()
    return fig


def plot_word_times(reference: list[dict], output: str, title: str = "") -> Figure:
    """SRWT: the reference words (top lane) and the words of a decoded output (bottom lane) as spans on one time
    axis. An output that does not parse as SRWT leaves its lane empty, with the parse error in the title."""
    try:
        predicted = [{"word": w.word, "start": w.start, "end": w.end} for w in tags.parse_srwt(output)]
        note = f"{len(predicted)} predicted words"
    except tags.FormatError as e:
        predicted, note = [], f"output is not SRWT ({e})"
    fig, ax = _subplots(figsize=(10, 2.6))
    for lane, (words, colour) in enumerate(((reference, "tab:blue"), (predicted, "tab:orange"))):
        y = 1 - lane
        for k, w in enumerate(words):
            ax.barh(y, w["end"] - w["start"], left=w["start"], height=0.5, color=colour, alpha=0.35 + 0.3 * (k % 2),
                    edgecolor=colour)
            ax.text((w["start"] + w["end"]) / 2, y + 0.3 * (1 if k % 2 else -1), w["word"], ha="center",
                    va="center", fontsize=7)
    ax.set_yticks([1, 0], ["reference", "predicted"])
    ax.set_ylim(-0.7, 1.7)
    ax.set_xlabel("seconds")
    end = max([w["end"] for w in [*reference, *predicted]], default=1.0)
    ax.set_xlim(0, end + 0.1)
    ax.set_title(title or f"SRWT word times: {len(reference)} reference words, {note}", fontsize=9, loc="left")
    fig.tight_layout()
    return fig
