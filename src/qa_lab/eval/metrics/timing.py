"""Time-aware metrics: SRWT's average absolute shift, grounding IoU, sound event F1."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from qa_lab.eval.metrics.text import _pairs, _text, normalize_label
from qa_lab.prompts import tags

_EPS = 1e-9  # slack for float rounding when comparing times on the 0.01 s grid with a tolerance

def _align(ref: Sequence[str], hyp: Sequence[str]) -> tuple[int, list[tuple[int, int]]]:
    """Levenshtein alignment of two word lists -> (edit distance, [(ref index, hyp index) of equal words on the path]).

    Hand-written on purpose: the official evaluation aligns with `edit_distance.SequenceMatcher` (not a dependency),
    whose backtrace prefers match/substitution, then insertion, then deletion. Which words match depends on that
    tie-breaking (rapidfuzz and jiwer break ties differently), so it is reproduced here exactly.
    """
    m, n = len(ref), len(hyp)
    d = [[i + j if i == 0 or j == 0 else 0 for j in range(n + 1)] for i in range(m + 1)]  # (m+1, n+1) costs
    for i in range(1, m + 1):
        for j in range(1, n + 1):
            d[i][j] = min(d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]), d[i][j - 1] + 1, d[i - 1][j] + 1)
    pairs, i, j = [], m, n
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            if ref[i - 1] == hyp[j - 1]:
                pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif j and d[i][j] == d[i][j - 1] + 1:  # insertion (an extra hypothesis word)
            j -= 1
        else:  # deletion (a missed reference word)
            i -= 1
    return d[m][n], pairs[::-1]


@functools.lru_cache(maxsize=1 << 16)  # bootstrap resamples re-score the same pairs
def _srwt_pair(ref: str, hyp: str) -> tuple[float, int, int, int, bool]:
    """-> (sum of |Δstart| + |Δend| over matched words, matched words, word edits, reference words, hyp format error).
    Raises tags.FormatError when the reference does not parse."""
    ref_words = tags.parse_srwt(ref)
    try:
        hyp_words, bad = tags.parse_srwt(hyp), False
    except tags.FormatError:
        hyp_words, bad = [], True
    edits, pairs = _align([w.word for w in ref_words], [w.word for w in hyp_words])
    shift = sum(abs(ref_words[a].start - hyp_words[b].start) + abs(ref_words[a].end - hyp_words[b].end)
                for a, b in pairs)
    return shift, len(pairs), edits, len(ref_words), bad


def average_absolute_shift(references, hypotheses) -> dict:
    """AAS of SRWT outputs, as the official Qwen-Audio evaluation (evaluate_srwt.py) computes it.

    Each text is N words between N+1 time tokens, word i spanning token i to token i+1 (tags.parse_srwt: other
    special tokens dropped, text after the last time token ignored). A hypothesis that does not parse (no time
    token, text before the first one, an empty word, decreasing times) is a format error: left out of AAS, counted,
    and scored as an empty hypothesis for WER. A reference that does not parse is a ValueError. If generation was
    primed with '<|0.00|>' (as the official evaluation does), prepend it to the output before scoring.

    Per pair the word sequences are aligned by Levenshtein distance over words (official tie-breaking, see _align);
    words that are equal on the alignment path are matched. AAS = Σ over all matched words of |Δstart| + |Δend|,
    divided by the number of matched words (not halved), in seconds; nan when no word matched.
    -> {"aas", "matched_words", "format_errors", "n", "wer"}; "wer" is the corpus WER over the parsed words, compared
    exactly as AAS matches them (no normalisation; nan when the references hold no word).
    """
    refs, hyps = _pairs(references, hypotheses, "average_absolute_shift")
    shift = 0.0
    matched = edits = ref_words = errors = 0
    for i, (r, h) in enumerate(zip(refs, hyps)):
        try:
            s, k, e, nr, bad = _srwt_pair(_text(r), _text(h))
        except tags.FormatError as err:
            raise ValueError(f"average_absolute_shift: reference {i} is not SRWT text: {err}") from None
        shift, matched, edits, ref_words, errors = shift + s, matched + k, edits + e, ref_words + nr, errors + bad
    return {"aas": shift / matched if matched else math.nan, "matched_words": matched, "format_errors": errors,
            "n": len(refs), "wer": edits / ref_words if ref_words else math.nan}


def _merge(spans, what: str = "span") -> list[tuple[float, float]]:
    """[start, end] spans -> their union as sorted, disjoint spans."""
    out: list[tuple[float, float]] = []
    for s, e in sorted((float(a), float(b)) for a, b in spans):
        if e < s:
            raise ValueError(f"{what} ({s}, {e}) ends before it starts")
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def segment_iou(ref_spans, hyp_spans) -> float:
    """IoU of the union of reference spans and the union of hypothesis spans ([start, end] in s); 0 when disjoint.

    When both unions have zero length (no spans, or only instantaneous ones) the IoU is 1.0 if they are the same
    spans and 0.0 otherwise.
    """
    a, b = _merge(ref_spans), _merge(hyp_spans)
    inter, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):  # sweep the two sorted, disjoint lists
        inter += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    union = sum(e - s for s, e in a) + sum(e - s for s, e in b) - inter
    if union <= 0:
        return float(a == b)
    return inter / union


def _parsed(x, parser):
    """Raw model text -> parser(text), or None when it does not parse; anything else passes through."""
    if isinstance(x, str):
        try:
            return parser(x)
        except tags.FormatError:
            return None
    return x


def grounding_scores(references, hypotheses) -> dict:
    """Per example a list of [start, end] spans (a hypothesis may also be raw '<|s|><|e|>…' text).

    -> {"iou": mean segment_iou over all examples, "onset_error": mean |Δ first onset| s, "offset_error": mean
    |Δ last offset| s, "format_errors", "n"}. A hypothesis that is None, empty or unparseable is a format error:
    IoU 0 and left out of the onset/offset errors (nan when no hypothesis has spans).
    """
    refs, hyps = _pairs(references, hypotheses, "grounding_scores")
    ious, onsets, offsets, errors = [], [], [], 0
    for i, (r, h) in enumerate(zip(refs, hyps)):
        ref = _merge(r, f"reference {i} span")
        if not ref:
            raise ValueError(f"grounding_scores: reference {i} has no span")
        hyp = _parsed(h, tags.parse_spans)
        if not hyp:
            errors += 1
            ious.append(0.0)
            continue
        hyp = _merge(hyp, f"hypothesis {i} span")
        ious.append(segment_iou(ref, hyp))
        onsets.append(abs(ref[0][0] - hyp[0][0]))
        offsets.append(abs(ref[-1][1] - hyp[-1][1]))
    mean = lambda xs: sum(xs) / len(xs) if xs else math.nan  # noqa: E731
    return {"iou": mean(ious), "onset_error": mean(onsets), "offset_error": mean(offsets),
            "format_errors": errors, "n": len(refs)}


def _events(x, what: str) -> list[tuple[str, float, float]]:
    out = []
    for ev in x:
        try:
            out.append((normalize_label(ev["label"]), float(ev["start"]), float(ev["end"])))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"event_f1: {what}: expected events as mappings with label/start/end, got {ev!r}") from e
    return out


def event_f1(references, hypotheses, tolerance: float = 0.2) -> dict:
    """Event-based F1 of sound event detection, micro-averaged over all events of the corpus.

    Per clip a list of {"label", "start", "end"} (a hypothesis may also be raw '<|s|>label<|e|>…' text; None or
    unparseable text is a format error with no events). A hypothesis event matches an unmatched reference event with
    the same label (compared after normalize_label) whose onset AND offset both lie within `tolerance` s (inclusive).
    Matching is greedy one-to-one: candidate pairs in order of smallest onset error (then offset error, then order
    of appearance), so a duplicate prediction matches at most once and counts as a false positive.
    -> {"f1", "precision", "recall", "onset_error", "offset_error" (mean |Δ| s over matched events; nan if none),
    "tp", "n_ref", "n_hyp", "format_errors", "n"}. With no events on either side precision = recall = f1 = 1.
    """
    refs, hyps = _pairs(references, hypotheses, "event_f1")
    tp = n_ref = n_hyp = errors = 0
    onset = offset = 0.0
    for i, (r, h) in enumerate(zip(refs, hyps)):
        ref = _events(r, f"reference {i}")
        h = _parsed(h, tags.parse_events)
        if h is None:
            errors += 1
        hyp = _events(h or [], f"hypothesis {i}")
        n_ref, n_hyp = n_ref + len(ref), n_hyp + len(hyp)
        candidates = sorted(
            (abs(hs - rs), abs(he - re_), hi, ri)
            for hi, (hl, hs, he) in enumerate(hyp) for ri, (rl, rs, re_) in enumerate(ref)
            if hl == rl and abs(hs - rs) <= tolerance + _EPS and abs(he - re_) <= tolerance + _EPS)
        used_h, used_r = set(), set()
        for d_on, d_off, hi, ri in candidates:
            if hi not in used_h and ri not in used_r:
                used_h.add(hi)
                used_r.add(ri)
                tp, onset, offset = tp + 1, onset + d_on, offset + d_off
    if n_ref == 0 and n_hyp == 0:
        precision = recall = f1 = 1.0
    else:
        precision = tp / n_hyp if n_hyp else 0.0
        recall = tp / n_ref if n_ref else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall,
            "onset_error": onset / tp if tp else math.nan, "offset_error": offset / tp if tp else math.nan,
            "tp": tp, "n_ref": n_ref, "n_hyp": n_hyp, "format_errors": errors, "n": len(refs)}
