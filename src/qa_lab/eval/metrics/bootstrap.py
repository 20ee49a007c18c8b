"""Percentile bootstrap confidence intervals over examples, recomputing the same corpus-level figure."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from qa_lab.eval.metrics.text import _pairs

def bootstrap_ci(fn_or_scores: Callable[[list, list], float] | Sequence[float], references=None, hypotheses=None,
                 *, n_resamples: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval over examples; deterministic in `seed`.

    bootstrap_ci(fn, references, hypotheses): each resample draws example indices with replacement, keeps every
    reference with its hypothesis, and recomputes the corpus-level fn(refs, hyps) -> float (e.g. word_error_rate:
    total edits / total words of the resample). bootstrap_ci(per_example_scores): the same for the mean of one
    score per example. Resamples whose value is nan (or None) are dropped; (nan, nan) if all are.
    Tip for a slow fn: pass precomputed per-example statistics as `references` and an fn that only adds them up.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"bootstrap_ci: alpha must be in (0, 1), got {alpha!r}")
    if n_resamples < 1:
        raise ValueError(f"bootstrap_ci: n_resamples must be >= 1, got {n_resamples!r}")
    rng = np.random.default_rng(seed)
    if callable(fn_or_scores):
        refs, hyps = _pairs(references, hypotheses, "bootstrap_ci")
        idx = rng.integers(0, len(refs), size=(n_resamples, len(refs)))  # (n_resamples, n)
        values = []
        for row in idx:
            v = fn_or_scores([refs[i] for i in row], [hyps[i] for i in row])
            values.append(math.nan if v is None else float(v))
        stats = np.asarray(values, dtype=float)
    else:
        if references is not None or hypotheses is not None:
            raise TypeError("bootstrap_ci: pass either fn, references, hypotheses or per-example scores alone")
        scores = np.asarray(list(fn_or_scores), dtype=float)
        if scores.ndim != 1 or not scores.size:
            raise ValueError(f"bootstrap_ci: expected a non-empty 1-D list of per-example scores, got shape {scores.shape}")
        idx = rng.integers(0, scores.size, size=(n_resamples, scores.size))
        stats = scores[idx].mean(axis=1)
    stats = stats[~np.isnan(stats)]
    if not stats.size:
        return math.nan, math.nan
    lo, hi = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)
