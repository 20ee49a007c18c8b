"""Percentile bootstrap confidence intervals over examples, recomputing the same corpus-level figure: one resampler
(scipy.stats.bootstrap) for one run's figure (`bootstrap_ci`) and for two runs' difference on the same examples
(`bootstrap_paired`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as scipy_stats

from qa_lab.eval.metrics.text import _pairs


def _check(alpha: float, n_resamples: int, who: str) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"{who}: alpha must be in (0, 1), got {alpha!r}")
    if n_resamples < 1:
        raise ValueError(f"{who}: n_resamples must be >= 1, got {n_resamples!r}")


def _interval(statistic: Callable[[np.ndarray], float], n: int, n_resamples: int, alpha: float,
              seed: int) -> tuple[float, float]:
    """The percentile interval of statistic(indices) over `n_resamples` draws of n example indices with replacement
    (scipy.stats.bootstrap, seeded by `seed`). Resamples whose statistic is nan are dropped, as a figure undefined on
    a resample (AAS with no matched word) says nothing about its spread; (nan, nan) if all are."""
    if n == 1:  # every resample is the one example (scipy asks for two)
        v = float(statistic(np.zeros(1, dtype=int)))
        return v, v
    with warnings.catch_warnings():  # scipy's own interval is nan when a resample is; ours drops those resamples
        warnings.simplefilter("ignore", scipy_stats.DegenerateDataWarning)
        res = scipy_stats.bootstrap((np.arange(n),), lambda idx: float(statistic(idx)), n_resamples=n_resamples,
                                    vectorized=False, method="percentile", confidence_level=1 - alpha,
                                    rng=np.random.default_rng(seed))
    values = res.bootstrap_distribution[~np.isnan(res.bootstrap_distribution)]
    if not values.size:
        return math.nan, math.nan
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def _nan_for_none(v) -> float:
    return math.nan if v is None else float(v)


def bootstrap_ci(fn_or_scores: Callable[[list, list], float] | Sequence[float], references=None, hypotheses=None,
                 *, n_resamples: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval over examples; deterministic in `seed`.

    bootstrap_ci(fn, references, hypotheses): each resample draws example indices with replacement, keeps every
    reference with its hypothesis, and recomputes the corpus-level fn(refs, hyps) -> float (e.g. word_error_rate:
    total edits / total words of the resample). bootstrap_ci(per_example_scores): the same for the mean of one
    score per example. Resamples whose value is nan (or None) are dropped; (nan, nan) if all are.
    Tip for a slow fn: pass precomputed per-example statistics as `references` and an fn that only adds them up.
    """
    _check(alpha, n_resamples, "bootstrap_ci")
    if callable(fn_or_scores):
        refs, hyps = _pairs(references, hypotheses, "bootstrap_ci")
        return _interval(lambda idx: _nan_for_none(fn_or_scores([refs[i] for i in idx], [hyps[i] for i in idx])),
                         len(refs), n_resamples, alpha, seed)
    if references is not None or hypotheses is not None:
        raise TypeError("bootstrap_ci: pass either fn, references, hypotheses or per-example scores alone")
    scores = np.asarray(list(fn_or_scores), dtype=float)
    if scores.ndim != 1 or not scores.size:
        raise ValueError(f"bootstrap_ci: expected a non-empty 1-D list of per-example scores, got shape {scores.shape}")
    return _interval(lambda idx: scores[idx].mean(), scores.size, n_resamples, alpha, seed)


def bootstrap_paired(a_items: Sequence, b_items: Sequence, fn: Callable[[list], float], n_resamples: int = 1000,
                     seed: int = 0, alpha: float = 0.05) -> dict:
    """Per-example paired bootstrap of fn(A) - fn(B), for comparing one run of each arm on the same examples.

    a_items[i] and b_items[i] are the two arms' records for evaluation example i (e.g. predictions.jsonl rows, or
    (reference, hypothesis) pairs); fn(list of items) -> the corpus-level figure (accuracy, WER …). Each resample
    draws example indices with replacement and scores BOTH arms on the same indices, so example difficulty cancels:
        diff = fn(a) - fn(b);  lo, hi = percentiles alpha/2, 1 - alpha/2 of fn(a[idx]) - fn(b[idx]).
    Resamples where either side is nan are dropped (as bootstrap_ci does). Deterministic in `seed`. Returns
    {"diff", "lo", "hi", "n", "significant", "alpha", "unit": "examples"}; with one example, lo = hi = nan.
    `qa_lab.study.stats.verdict` turns the result into a sentence."""
    _check(alpha, n_resamples, "bootstrap_paired")
    a, b = list(a_items), list(b_items)
    if len(a) != len(b):
        raise ValueError(f"bootstrap_paired: {len(a)} items for a but {len(b)} for b; both arms must be scored on "
                         "the same examples in the same order")
    if not a:
        raise ValueError("bootstrap_paired: no items")
    n = len(a)
    out = {"diff": float(fn(a)) - float(fn(b)), "lo": math.nan, "hi": math.nan, "n": n, "significant": False,
           "alpha": alpha, "unit": "examples"}
    if n < 2:
        return out
    lo, hi = _interval(lambda idx: float(fn([a[i] for i in idx])) - float(fn([b[i] for i in idx])), n, n_resamples,
                       alpha, seed)
    if not math.isnan(lo):
        out.update(lo=lo, hi=hi, significant=bool(lo > 0 or hi < 0))
    return out
