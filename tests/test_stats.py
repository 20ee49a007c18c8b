"""Ablation statistics against hand-computed answers: t quantiles, intervals, paired tests, bootstrap, verdicts."""

import math

import numpy as np
import pytest

from qa_lab.eval.metrics import bootstrap_paired
from qa_lab.study.stats import mean_ci, paired_difference, verdict


@pytest.mark.parametrize("df, q, expected", [(1, 0.975, 12.7062), (2, 0.975, 4.3027), (3, 0.975, 3.1824),
                                             (4, 0.995, 4.6041), (10, 0.975, 2.2281), (30, 0.975, 2.0423),
                                             (5, 0.95, 2.0150)])
def test_interval_half_width_uses_the_t_table_quantile(df, q, expected):
    values = [float(k * k % 7) for k in range(df + 1)]  # n = df + 1 seeds, not all equal
    m, lo, hi = mean_ci(values, alpha=2 * (1 - q))
    assert hi - m == pytest.approx(expected * np.std(values, ddof=1) / math.sqrt(df + 1), rel=1e-4)
    assert m - lo == pytest.approx(hi - m)


def test_mean_ci_known_answer():
    m, lo, hi = mean_ci([1, 2, 3])
    half = 4.3027 * math.sqrt(1 / 3)  # t(0.975, 2) * s / sqrt(n), s = 1
    assert m == 2.0
    assert lo == pytest.approx(2 - half, abs=1e-4) and hi == pytest.approx(2 + half, abs=1e-4)
    m, lo, hi = mean_ci([0.7])
    assert m == 0.7 and math.isnan(lo) and math.isnan(hi)
    assert mean_ci([1, 2, 3], alpha=0.1)[2] < mean_ci([1, 2, 3])[2]  # narrower at 90 %
    with pytest.raises(ValueError, match="non-finite"):
        mean_ci([1.0, float("nan")])


def test_paired_difference_hand_case():
    r = paired_difference([1, 2, 3, 4], [0, 0, 0, 0])  # d = 1..4: mean 2.5, s = 1.291, t = 3.873, df 3
    assert r["diff"] == 2.5 and r["n"] == 4
    half = 3.1824 * 1.2910 / 2
    assert r["lo"] == pytest.approx(2.5 - half, abs=1e-3) and r["hi"] == pytest.approx(2.5 + half, abs=1e-3)
    assert r["p"] == pytest.approx(0.0305, abs=1e-4)
    assert r["significant"]


def test_paired_difference_constant_shift_collapses():
    a = [0.81, 0.77, 0.9]
    r = paired_difference(a, [x + 0.25 for x in a])  # b = a + 0.25 on every seed
    assert r["diff"] == pytest.approx(-0.25)
    assert r["lo"] == pytest.approx(-0.25, abs=1e-9) and r["hi"] == pytest.approx(-0.25, abs=1e-9)
    assert r["significant"] and r["p"] == pytest.approx(0.0, abs=1e-9)
    exact = paired_difference([1, 2, 3], [3, 4, 5])  # d exactly constant: s = 0
    assert (exact["lo"], exact["hi"], exact["p"], exact["significant"]) == (-2, -2, 0.0, True)
    same = paired_difference([1, 2], [1, 2])
    assert same["diff"] == 0 and math.isnan(same["p"]) and not same["significant"]


def test_paired_difference_straddling_zero_and_one_seed():
    r = paired_difference([1.0, -1.0, 2.0, -2.0], [0, 0, 0, 0])
    assert r["diff"] == 0 and r["lo"] < 0 < r["hi"] and r["lo"] == pytest.approx(-r["hi"])
    assert r["p"] == pytest.approx(1.0) and not r["significant"]
    one = paired_difference([0.5], [0.4])
    assert one["diff"] == pytest.approx(0.1) and one["n"] == 1
    assert math.isnan(one["lo"]) and math.isnan(one["p"]) and not one["significant"]
    with pytest.raises(ValueError, match="3 values for a but 2 for b"):
        paired_difference([1, 2, 3], [1, 2])


def _acc(items):
    return float(np.mean(items))


def test_bootstrap_paired_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    a = (rng.random(200) < 0.8).astype(float).tolist()  # per-example correctness of arm A
    b = (rng.random(200) < 0.6).astype(float).tolist()
    r1 = bootstrap_paired(a, b, _acc, n_resamples=300, seed=3)
    r2 = bootstrap_paired(a, b, _acc, n_resamples=300, seed=3)
    r3 = bootstrap_paired(a, b, _acc, n_resamples=300, seed=4)
    assert r1 == r2 and r1 != r3
    assert r1["diff"] == pytest.approx(np.mean(a) - np.mean(b))
    assert r1["lo"] < r1["diff"] < r1["hi"] and r1["significant"] and r1["n"] == 200
    assert "p" not in r1
    tie = bootstrap_paired(a, a[::-1], _acc, n_resamples=300)  # same accuracy, different examples right
    assert tie["diff"] == 0 and tie["lo"] < 0 < tie["hi"] and not tie["significant"]
    same = bootstrap_paired(a, a, _acc, n_resamples=50)  # pairing: identical arms differ by exactly 0
    assert same["lo"] == same["hi"] == 0
    with pytest.raises(ValueError, match="same examples"):
        bootstrap_paired(a, b[:-1], _acc)


def test_verdicts():
    better = {"diff": 0.031, "lo": 0.012, "hi": 0.050, "n": 3, "significant": True, "alpha": 0.05, "unit": "seeds"}
    assert verdict(better, True, ("LoRA", "full")) == \
        "LoRA is better than full by 0.031 (95 % CI 0.012 to 0.050, n=3 seeds)"
    # the same numbers as a WER: A is higher, so B wins, and the interval is that of B's improvement
    assert verdict(better, False, ("LoRA", "full")) == \
        "full is better than LoRA by 0.031 (95 % CI 0.012 to 0.050, n=3 seeds)"
    lower = dict(better, diff=-0.031, lo=-0.050, hi=-0.012)
    assert verdict(lower, False) == "A is better than B by 0.031 (95 % CI 0.012 to 0.050, n=3 seeds)"
    assert verdict(lower, True) == "B is better than A by 0.031 (95 % CI 0.012 to 0.050, n=3 seeds)"
    none = {"diff": 0.01, "lo": -0.02, "hi": 0.04, "n": 3, "significant": False, "alpha": 0.05, "unit": "seeds"}
    assert verdict(none, True) == "no significant difference between A and B (95 % CI -0.020 to 0.040, n=3 seeds)"
    assert verdict(paired_difference([0.5], [0.4]), True) == "A minus B = 0.100 (one seed: no CI)"
    r = bootstrap_paired([1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0], _acc, n_resamples=200)
    assert verdict(r, True).endswith("n=4 examples)")
    assert verdict(bootstrap_paired([1.0], [0.0], _acc), True) == "A minus B = 1.00 (one example: no CI)"
