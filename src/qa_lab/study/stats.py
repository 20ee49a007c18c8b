"""Statistics for ablation tables: t-intervals over seeds, paired differences, plain-word verdicts.

Two ways to compare arms A and B (all functions are pure):

* several seeds per arm: `paired_difference(a, b)` pairs the seeds by position (seed k of A with seed k of B, same
  data order and init) and runs a paired t-test on the per-seed differences;
* one seed per arm: `qa_lab.eval.metrics.bootstrap_paired(a_items, b_items, fn)` resamples the evaluation
  *examples*, scoring both arms on the same resampled indices (the kit's one bootstrap, beside `bootstrap_ci`).

Either result goes to `verdict(result, higher_is_better, names)` for a sentence for the notebook or the README.
Student-t quantiles and tail probabilities come from scipy.stats.t.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import t as student_t


# --- intervals and tests -----------------------------------------------------------------------------------------

def _finite_array(values, what: str) -> np.ndarray:
    x = np.asarray(list(values), dtype=float)
    if x.ndim != 1 or not x.size:
        raise ValueError(f"{what}: expected a non-empty list of numbers, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: non-finite values {x.tolist()} (a run that failed to report?)")
    return x


def _check_alpha(alpha: float, what: str) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"{what}: alpha must be in (0, 1), got {alpha!r}")


def mean_ci(values: Sequence[float], alpha: float = 0.05) -> tuple[float, float, float]:
    """(mean, lo, hi): the Student-t (1 - alpha) interval of the mean over seeds.

        mean +- t(1 - alpha/2, n - 1) * s / sqrt(n),   s = sample standard deviation (ddof=1)

    With one value there is no interval: (v, nan, nan)."""
    _check_alpha(alpha, "mean_ci")
    x = _finite_array(values, "mean_ci")
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(student_t.ppf(1 - alpha / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return m, m - half, m + half


def paired_difference(a: Sequence[float], b: Sequence[float], alpha: float = 0.05) -> dict:
    """Arms a and b measured on the same seeds, paired by position: a paired t-test on d_k = a_k - b_k.

        diff = mean(d);  lo, hi = diff -+ t(1 - alpha/2, n - 1) * s_d / sqrt(n)
        t = diff / (s_d / sqrt(n));  p = P(|T_{n-1}| >= |t|)   (two-sided)

    Returns {"diff", "lo", "hi", "n", "p", "significant", "alpha", "unit": "seeds"}; significant means the interval
    excludes 0. Edge cases: n = 1 -> lo = hi = p = nan, not significant; every d_k equal (s_d = 0) -> the interval
    collapses to diff, p = 0 when diff != 0 (significant) and nan when diff == 0 (not significant)."""
    _check_alpha(alpha, "paired_difference")
    x, y = _finite_array(a, "paired_difference(a)"), _finite_array(b, "paired_difference(b)")
    if x.size != y.size:
        raise ValueError(f"paired_difference: {x.size} values for a but {y.size} for b; pair them seed by seed")
    d = x - y
    n, diff = int(d.size), float(d.mean())
    out = {"diff": diff, "lo": math.nan, "hi": math.nan, "n": n, "p": math.nan, "significant": False,
           "alpha": alpha, "unit": "seeds"}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        out.update(lo=diff, hi=diff, p=0.0 if diff != 0 else math.nan, significant=diff != 0)
        return out
    se = sd / math.sqrt(n)
    half = float(student_t.ppf(1 - alpha / 2, n - 1)) * se
    t = diff / se
    out.update(lo=diff - half, hi=diff + half, p=2 * float(student_t.sf(abs(t), n - 1)))
    out["significant"] = bool(out["lo"] > 0 or out["hi"] < 0)
    return out


# --- words -------------------------------------------------------------------------------------------------------

def _decimals(result: dict) -> int:
    """Enough decimals for two significant digits of the interval width (or three of the difference)."""
    width = result["hi"] - result["lo"]
    if math.isfinite(width) and width > 0:
        return min(max(0, 1 - math.floor(math.log10(width))), 8)
    d = abs(result["diff"])
    return min(max(0, 2 - math.floor(math.log10(d))), 8) if d > 0 and math.isfinite(d) else 3


def verdict(result: dict, higher_is_better: bool, names: tuple[str, str] = ("A", "B")) -> str:
    """A sentence for a paired_difference / bootstrap_paired result, where `diff` is A - B:

        "A is better than B by 0.031 (95 % CI 0.012 to 0.050, n=3 seeds)"
        "no significant difference between A and B (95 % CI -0.020 to 0.040, n=3 seeds)"
        "A minus B = 0.031 (one seed: no CI)"

    "better by" is the size of the improvement in the metric's units (A - B when higher is better, B - A when
    lower is better, e.g. WER) and the interval is that of the same quantity. Decimals follow the interval width."""
    a, b = names
    unit = result.get("unit", "seeds")
    n = result["n"]
    k = _decimals(result)
    f = lambda x: f"{x:.{k}f}"  # noqa: E731
    if not (math.isfinite(result["lo"]) and math.isfinite(result["hi"])):
        why = (f"one {unit.removesuffix('s')}" if n < 2 else f"n={n} {unit}") + ": no CI"
        return f"{a} minus {b} = {f(result['diff'])} ({why})"
    level = f"{100 * (1 - result.get('alpha', 0.05)):g} %"
    if not result["significant"]:
        return (f"no significant difference between {a} and {b} ({level} CI {f(result['lo'])} to {f(result['hi'])}, "
                f"n={n} {unit})")
    better, worse = (a, b) if (result["diff"] > 0) == higher_is_better else (b, a)
    # the improvement is |A - B|; its interval is that of A - B, mirrored when A - B < 0
    by, lo, hi = (result["diff"], result["lo"], result["hi"]) if result["diff"] > 0 else \
        (-result["diff"], -result["hi"], -result["lo"])
    return f"{better} is better than {worse} by {f(by)} ({level} CI {f(lo)} to {f(hi)}, n={n} {unit})"
