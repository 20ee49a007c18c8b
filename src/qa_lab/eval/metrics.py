"""The paper's task metrics, corpus-level, one function each (WER/CER, BLEU, AAS, IoU, event F1, CIDEr-D, accuracy …).

Every function takes `references` and `hypotheses` in example order and scores the whole corpus at once (WER is
total edits / total reference words, not a mean of per-utterance WERs); `bootstrap_ci` resamples examples and
recomputes the same corpus-level figure for a percentile confidence interval. Libraries do the counting where they
exist: torchmetrics (WER, CER), sacrebleu (BLEU), aac-metrics (CIDEr-D, SPIDEr), whisper-normalizer (English text).
Empty inputs and length mismatches raise ValueError.
"""

from __future__ import annotations

import functools
import math
import re
import shutil
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import sacrebleu
from torchmetrics.functional.text import char_error_rate as _tm_cer
from torchmetrics.functional.text import word_error_rate as _tm_wer
from whisper_normalizer.english import EnglishTextNormalizer

from qa_lab.prompts import tags

NOTE_FIELDS = ("pitch", "velocity", "instrument")
_EPS = 1e-9  # slack for float rounding when comparing times on the 0.01 s grid with a tolerance
_TRAILING_PUNCT = ".,!?;:。，！？；：、"
_NUMBER_WORDS = {w: k for k, w in enumerate("zero one two three four five six seven eight nine ten".split())}
_NOT_WORD = re.compile(r"[^\w\s]")
_WHITESPACE = re.compile(r"\s+")


def _pairs(references, hypotheses, what: str) -> tuple[list, list]:
    """Both sides as lists of equal, non-zero length; ValueError naming `what` and both lengths otherwise."""
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError(f"{what}: references and hypotheses must be lists with one item per example, "
                        "not a single string")
    refs, hyps = list(references), list(hypotheses)
    if len(refs) != len(hyps):
        raise ValueError(f"{what}: {len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError(f"{what}: no examples (references and hypotheses are empty)")
    return refs, hyps


def _text(x) -> str:
    return "" if x is None else str(x)


# --- text normalisation ----------------------------------------------------------------------------------------

@functools.cache
def _english() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()


@functools.lru_cache(maxsize=1 << 16)  # bootstrap resamples score the same sentences again and again
def _normalize_english(text: str) -> str:
    return _english()(text)


def normalize_english(text) -> str:
    """Whisper's EnglishTextNormalizer (whisper-normalizer): "Mr. Quilter's colour" -> "mister quilter is color"."""
    return _normalize_english(_text(text))


def normalize_label(text) -> str:
    """Class labels and short answers: lowercase, strip, collapse whitespace, drop trailing punctuation ("Yes." -> "yes")."""
    return " ".join(_text(text).lower().split()).rstrip(_TRAILING_PUNCT).rstrip()


# --- speech recognition and translation ------------------------------------------------------------------------

def word_error_rate(references, hypotheses, normalize: bool = True) -> float:
    """Corpus WER = total word edits / total reference words (as jiwer), via torchmetrics' word_error_rate.

    normalize=True applies Whisper's English normaliser to both sides first (use normalize=False for other
    languages). ValueError when the references hold no word at all (WER is undefined).
    """
    refs, hyps = _pairs(references, hypotheses, "word_error_rate")
    prep = normalize_english if normalize else _text
    refs, hyps = [prep(r) for r in refs], [prep(h) for h in hyps]
    if not any(r.split() for r in refs):
        raise ValueError("word_error_rate: the references have no words" + (" after normalisation" if normalize else ""))
    return float(_tm_wer(hyps, refs))


def character_error_rate(references, hypotheses) -> float:
    """Corpus CER (Chinese): all whitespace removed, then character edits / reference characters (torchmetrics)."""
    refs, hyps = _pairs(references, hypotheses, "character_error_rate")
    refs, hyps = [_WHITESPACE.sub("", _text(r)) for r in refs], [_WHITESPACE.sub("", _text(h)) for h in hyps]
    if not any(refs):
        raise ValueError("character_error_rate: the references have no characters")
    return float(_tm_cer(hyps, refs))


def _reference_streams(refs: list, what: str) -> list[list[str | None]]:
    """One reference (str) or a list of references per example -> sacrebleu's streams (None pads missing ones)."""
    if all(isinstance(r, str) for r in refs):
        return [refs]
    lists = [[r] if isinstance(r, str) else [_text(x) for x in r] for r in refs]
    for i, rs in enumerate(lists):
        if not rs:
            raise ValueError(f"{what}: example {i} has no reference")
    return [[rs[k] if k < len(rs) else None for rs in lists] for k in range(max(map(len, lists)))]


def bleu(references, hypotheses, tokenize: str = "13a") -> float:
    """sacrebleu corpus BLEU (0-100). references: one string per hypothesis, or a list of references per hypothesis
    (lists may differ in length); tokenize="zh" for Chinese targets, "13a" (sacrebleu's default) otherwise."""
    refs, hyps = _pairs(references, hypotheses, "bleu")
    streams = _reference_streams(refs, "bleu")
    return float(sacrebleu.corpus_bleu([_text(h) for h in hyps], streams, tokenize=tokenize).score)


# --- SRWT: average absolute shift ------------------------------------------------------------------------------

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


# --- grounding and sound event detection -----------------------------------------------------------------------

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


# --- captions --------------------------------------------------------------------------------------------------

def _caption_words(text) -> str:
    """Lowercase, punctuation -> space, whitespace split and re-join (stands in for the Java PTB tokenizer)."""
    return " ".join(_NOT_WORD.sub(" ", _text(text).lower()).split())


def _captions(references, hypotheses, what: str) -> tuple[list[list[str]], list[str]]:
    refs, hyps = _pairs(references, hypotheses, what)
    mrefs = []
    for i, r in enumerate(refs):
        rs = [r] if isinstance(r, str) else list(r)
        if not rs:
            raise ValueError(f"{what}: example {i} has no reference caption")
        mrefs.append([_caption_words(x) for x in rs])
    return mrefs, [_caption_words(h) for h in hyps]


def cider_d(references, hypotheses) -> float:
    """CIDEr-D (aac-metrics' functional cider_d, its usual 0-10 scale); references: a list of captions per example.

    aac-metrics' `evaluate()` first runs the Java PTB tokenizer; to need no Java, captions are tokenised here instead:
    lowercased, every non-word character turned into a space, split on whitespace. This drops punctuation as PTB
    does, but splits clitics differently ("dog's" -> "dog s", PTB: "dog 's"), so scores can differ slightly from
    PTB-tokenised ones. Its IDF comes from the references of the corpus, so it needs at least 2 examples.
    """
    mrefs, cands = _captions(references, hypotheses, "cider_d")
    if len(cands) < 2:
        raise ValueError(f"cider_d: CIDEr-D needs at least 2 examples (its IDF is taken over the corpus), got {len(cands)}")
    from aac_metrics.functional.cider_d import cider_d as _cider_d  # imported here: aac_metrics loads slowly

    return float(_cider_d(cands, mrefs, return_all_scores=False))


def spice_available(cache_path: str | None = None, java_path: str | None = None) -> bool:
    """True when SPICE can run: a supported Java on the PATH and the SPICE jars that `aac-metrics-download` puts in
    aac-metrics' cache folder. Checks only; never downloads."""
    from aac_metrics.functional.spice import check_spice_install
    from aac_metrics.utils.checks import check_java_path
    from aac_metrics.utils.globals import get_default_cache_path, get_default_java_path

    java = str(java_path or get_default_java_path())
    if shutil.which(java) is None:
        return False
    try:
        check_spice_install(str(cache_path or get_default_cache_path()))
        return bool(check_java_path(java))
    except (OSError, RuntimeError, ValueError):
        return False


def spider(references, hypotheses, cache_path: str | None = None, java_path: str | None = None) -> float | None:
    """SPIDEr = (CIDEr-D + SPICE) / 2 (aac-metrics), on captions tokenised as in cider_d.

    SPICE is a Java program whose jars aac-metrics fetches with `aac-metrics-download`; this function never downloads
    anything and returns None when Java or those jars are missing (see spice_available)."""
    mrefs, cands = _captions(references, hypotheses, "spider")
    if not spice_available(cache_path, java_path):
        return None
    if len(cands) < 2:
        raise ValueError(f"spider: CIDEr-D needs at least 2 examples, got {len(cands)}")
    from aac_metrics.functional.spider import spider as _spider

    return float(_spider(cands, mrefs, return_all_scores=False, cache_path=cache_path, java_path=java_path))


def bleu4_captions(references, hypotheses) -> float:
    """Corpus BLEU-4 (0-100) of captions against all their references: sacrebleu on captions tokenised as in cider_d
    (tokenize="none"). Close to, not identical with, coco-caption's BLEU-4 (which smooths and counts differently)."""
    mrefs, cands = _captions(references, hypotheses, "bleu4_captions")
    return float(sacrebleu.corpus_bleu(cands, _reference_streams(mrefs, "bleu4_captions"), tokenize="none").score)


# --- classification, counting, notes ---------------------------------------------------------------------------

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
    scikit-learn's f1_score(average="macro", labels=sorted(set(references)))."""
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


# --- confidence intervals --------------------------------------------------------------------------------------

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
