"""Labels, counts and note fields: accuracy, macro-F1, counting accuracy and MAE, note-field accuracy."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from qa_lab.eval.metrics.text import _pairs, _text, normalize_label
from qa_lab.eval.metrics.timing import _parsed
from qa_lab.prompts import tags

NOTE_FIELDS = ("pitch", "velocity", "instrument")  # what note_analysis answers and note_field_accuracy scores
_NUMBER_WORDS = {w: k for k, w in enumerate("zero one two three four five six seven eight nine ten".split())}

def _labels(references, hypotheses, normalize: bool, what: str) -> tuple[list[str], list[str]]:
    refs, hyps = _pairs(references, hypotheses, what)
    prep = normalize_label if normalize else _text
    return [prep(r) for r in refs], [prep(h) for h in hyps]


def accuracy(references, hypotheses, normalize: bool = True) -> float:
    """Fraction of exact matches (after normalize_label on both sides unless normalize=False)."""
    refs, hyps = _labels(references, hypotheses, normalize, "accuracy")
    return sum(r == h for r, h in zip(refs, hyps)) / len(refs)


def macro_f1(references, hypotheses, normalize: bool = True) -> float:
    """Unweighted mean of per-class F1 = 2TP / (2TP + FP + FN) over the classes present in the references.

    A hypothesis outside those classes is a miss (FN) for its reference's class and no class's FP, as in
    scikit-learn's f1_score(average="macro", labels=sorted(set(references))). Kept by hand on purpose: the tests check
    it equals scikit-learn's, which is not a dependency of the kit and costs a second's import for eight lines."""
    refs, hyps = _labels(references, hypotheses, normalize, "macro_f1")
    scores = []
    for c in sorted(set(refs)):
        tp = sum(r == c and h == c for r, h in zip(refs, hyps))
        fp = sum(r != c and h == c for r, h in zip(refs, hyps))
        fn = sum(r == c and h != c for r, h in zip(refs, hyps))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def _count(x) -> int | None:
    """'3', ' 3. ', 'three' -> 3; None for anything that is not a whole number (or zero…ten in words)."""
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    t = normalize_label(x)
    if re.fullmatch(r"[+-]?\d+", t):
        return int(t)
    return _NUMBER_WORDS.get(t)


def count_scores(references, hypotheses) -> dict:
    """Counting answers -> {"accuracy", "mae", "format_errors", "n"}.

    A hypothesis is read as an integer ('3', '3.', 'three'; number words zero…ten). One that is not an integer is
    wrong, a format error, and left out of the MAE (nan when no hypothesis is an integer)."""
    refs, hyps = _pairs(references, hypotheses, "count_scores")
    correct, errors, abs_err = 0, 0, []
    for i, (r, h) in enumerate(zip(refs, hyps)):
        ref = _count(r)
        if ref is None:
            raise ValueError(f"count_scores: reference {i} {r!r} is not an integer count")
        hyp = _count(h)
        if hyp is None:
            errors += 1
            continue
        correct += hyp == ref
        abs_err.append(abs(hyp - ref))
    return {"accuracy": correct / len(refs), "mae": sum(abs_err) / len(abs_err) if abs_err else math.nan,
            "format_errors": errors, "n": len(refs)}


def note_field_accuracy(references: list[dict], hypotheses: list[dict | None]) -> dict:
    """Note analysis (NSynth) -> per-field accuracy {"pitch", "pitch_chroma", "velocity", "instrument", "all",
    "format_errors", "n"}.

    Each item is a {"pitch", "velocity", "instrument"} mapping (a hypothesis may also be raw note-analysis text);
    None or unparseable text is a format error, wrong on every field. Instruments are compared after
    normalize_label; "pitch_chroma" counts a pitch right up to whole octaves (the official chroma accuracy);
    "all" needs pitch, velocity and instrument right together."""
    refs, hyps = _pairs(references, hypotheses, "note_field_accuracy")
    right = dict.fromkeys(("pitch", "pitch_chroma", "velocity", "instrument", "all"), 0)
    errors = 0
    for i, (r, h) in enumerate(zip(refs, hyps)):
        try:
            rp, rv, ri = int(r["pitch"]), int(r["velocity"]), normalize_label(r["instrument"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"note_field_accuracy: reference {i}: expected a mapping with pitch/velocity/instrument, "
                             f"got {r!r}") from e
        h = _parsed(h, tags.parse_note)
        if not isinstance(h, Mapping):
            errors += 1
            continue
        hp, hv = _count(h.get("pitch")), _count(h.get("velocity"))
        ok = {"pitch": hp == rp, "pitch_chroma": hp is not None and hp % 12 == rp % 12, "velocity": hv == rv,
              "instrument": normalize_label(h.get("instrument")) == ri}
        ok["all"] = ok["pitch"] and ok["velocity"] and ok["instrument"]
        for k, v in ok.items():
            right[k] += v
    return {**{k: v / len(refs) for k, v in right.items()}, "format_errors": errors, "n": len(refs)}
