"""Metric families: everything the kit knows about one kind of answer, in one place.

A task names its family in the registry (`Task.metric`, qa_lab.prompts.tasks). The family owns how a decoded
output parses (a malformed one is a format error), how a set of outputs is scored, which result is the headline,
how figures are named and printed, and how specific the answer's form is (for tag confusion). A task with a new
kind of answer registers a family once:

    from qa_lab.eval.families import MetricFamily, register_family
    register_family(MetricFamily("exact", parse=str.strip, score=my_scorer, headline=("exact",),
                                 names={"exact": ("exact match", True)}, percent=("exact",)))
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qa_lab.errors import unknown
from qa_lab.eval import metrics as M
from qa_lab.example import Example
from qa_lab.prompts import tags
from qa_lab.prompts import tasks as registry


def plain_answer(text: str) -> str:
    """A plain-text answer: the text, stripped; a tag or time token inside it is a format error."""
    if "<|" in text:
        raise tags.FormatError(f"special token in a plain answer: {text!r}")
    return text.strip()


@dataclass
class Scoring:
    """What a family's scorer gets and fills: one task's examples, outputs and parses, and the result so far."""

    examples: list[Example]
    outputs: list[str]
    parsed: list[Any]  # None where the output did not parse
    ok: list[bool]
    refs_text: list[str]  # each example's target text
    ci: Callable  # ci(fn, refs, hyps) -> {"value", "ci"}: fn(refs, hyps) with its bootstrap interval
    res: dict  # filled by the scorer: {key: {"value", "ci"}, ...}; "n" and "format_errors" are set already
    per: list[dict]  # per-example scores for predictions.jsonl (the scorer may replace the list)

    def texts(self) -> list[str]:
        """Parsed plain answers, '' where the output did not parse."""
        return [p if p is not None else "" for p in self.parsed]


@dataclass(frozen=True)
class MetricFamily:
    name: str
    score: Callable[[Scoring], None]
    """Fills Scoring.res (and optionally Scoring.per) for one task."""
    headline: tuple[str, ...]
    """Result keys an ablation or transfer table reads first (per-language keys "wer[en]" match "wer")."""
    parse: Callable[[str], Any] = plain_answer
    """Decoded text -> the structured answer; raises tags.FormatError when it does not parse."""
    names: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """Result key -> (display name as papers print it, higher is better)."""
    percent: tuple[str, ...] = ()
    """Result keys that are rates, printed in %."""
    form_rank: int = 4
    """How specific the answer form is, for tag confusion: 0 note, 1 spans, 2 timed items, 3 count, 4 plain text."""
    per_language: bool = False
    """Its headline keys come one per language (wer[en], bleu[de]); elsewhere a bracket marks a subset."""


FAMILIES: dict[str, MetricFamily] = {}


def register_family(family: MetricFamily, replace: bool = False) -> MetricFamily:
    """Add a metric family; tasks may then name it (`Task.metric`)."""
    if family.name in FAMILIES and FAMILIES[family.name] != family and not replace:
        raise ValueError(f"metric family {family.name!r} is already registered; pass replace=True to redefine it")
    FAMILIES[family.name] = family
    registry.METRICS.add(family.name)
    return family


def family_of(task: str) -> MetricFamily:
    """The metric family of the registered task `task`."""
    metric = registry.get(task).metric
    try:
        return FAMILIES[metric]
    except KeyError:
        raise unknown(f"metric family of task {task!r}", metric, tuple(FAMILIES)) from None


# every task's result has this key besides its family's (the share of outputs that did not parse)
FORMAT_ERROR_RATE = "format_error_rate"


def display(key: str) -> tuple[str, bool]:
    """A result key (without its [..] suffix) -> (display name, higher is better), from whichever family names it."""
    if key == FORMAT_ERROR_RATE:
        return "format errors", False
    for f in FAMILIES.values():
        if key in f.names:
            return f.names[key]
    return key, True


def is_percent(key: str) -> bool:
    return key == FORMAT_ERROR_RATE or any(key in f.percent for f in FAMILIES.values())


# --- the built-in families -------------------------------------------------------------------------------------------

def _groups(examples: list[Example], key: str) -> list[tuple[str, list[int]]]:
    """Example indices grouped by language (`key`, falling back to audio_lang, then en)."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        out[ex.get(key) or ex.get("audio_lang") or "en"].append(i)
    return sorted(out.items())


def _wer(s: Scoring) -> None:
    """Per language: WER (English normalised as Whisper does), CER for Chinese."""
    hyps, refs = s.texts(), [ex["text"] for ex in s.examples]
    for lang, idx in _groups(s.examples, "text_lang"):
        key, fn = ("cer", M.character_error_rate) if lang == "zh" else \
            ("wer", lambda r, h, en=lang == "en": M.word_error_rate(r, h, normalize=en))
        s.res[f"{key}[{lang}]"] = s.ci(fn, [refs[i] for i in idx], [hyps[i] for i in idx])
        for i in idx:
            try:
                s.per[i] = {key: fn([refs[i]], [hyps[i]])}
            except ValueError:  # a reference with no words after normalisation
                s.per[i] = {key: None}


def _aas(s: Scoring) -> None:
    refs, outs = s.refs_text, s.outputs
    aas = M.average_absolute_shift(refs, outs)
    s.res["aas"] = s.ci(lambda r, h: M.average_absolute_shift(r, h)["aas"], refs, outs)
    s.res["srwt_wer"] = s.ci(lambda r, h: M.average_absolute_shift(r, h)["wer"], refs, outs)
    s.res["matched_words"] = aas["matched_words"]
    s.res["format_errors"] = aas["format_errors"]
    s.per[:] = [{"aas": M.average_absolute_shift([r], [h])["aas"]} if k else {} for r, h, k in zip(refs, outs, s.ok)]


def _bleu(s: Scoring) -> None:
    """Per target language (Chinese with sacrebleu's zh tokeniser)."""
    hyps = s.texts()
    for lang, idx in _groups(s.examples, "text_lang"):
        fn = lambda r, h, t="zh" if lang == "zh" else "13a": M.bleu(r, h, tokenize=t)  # noqa: E731
        s.res[f"bleu[{lang}]"] = s.ci(fn, [s.refs_text[i] for i in idx], [hyps[i] for i in idx])


def _cider(s: Scoring) -> None:
    refs = [ex.get("references") or [ex["text"]] for ex in s.examples]
    hyps = s.texts()
    s.res["cider_d"] = s.ci(M.cider_d, refs, hyps)
    s.res["bleu4"] = s.ci(M.bleu4_captions, refs, hyps)
    spider = M.spider(refs, hyps)
    if spider is not None:
        s.res["spider"] = {"value": spider}


def _correct(s: Scoring, hyps: list[str]) -> None:
    s.per[:] = [{"correct": M.normalize_label(r) == M.normalize_label(h)} for r, h in zip(s.refs_text, hyps)]


def _accuracy(s: Scoring) -> None:
    refs, hyps = s.refs_text, s.texts()
    s.res["accuracy"] = s.ci(M.accuracy, refs, hyps)
    s.res["macro_f1"] = s.ci(M.macro_f1, refs, hyps)
    if any("temporal" in ex for ex in s.examples):  # aqa: temporal questions apart (what SRWT should help)
        for flag, name in ((True, "temporal"), (False, "non-temporal")):
            idx = [i for i, ex in enumerate(s.examples) if bool(ex.get("temporal")) == flag]
            if idx:
                s.res[f"accuracy[{name}]"] = s.ci(M.accuracy, [refs[i] for i in idx], [hyps[i] for i in idx])
    _correct(s, hyps)


def _count(s: Scoring) -> None:
    refs, hyps = s.refs_text, s.texts()
    c = M.count_scores(refs, hyps)
    s.res["accuracy"] = s.ci(lambda r, h: M.count_scores(r, h)["accuracy"], refs, hyps)
    s.res["mae"] = {"value": c["mae"]}
    s.res["format_errors"] = c["format_errors"]  # non-integers, including outputs that did not parse
    _correct(s, hyps)


def _iou(s: Scoring) -> None:
    refs, hyps = [ex["spans"] for ex in s.examples], [p or [] for p in s.parsed]
    g = M.grounding_scores(refs, hyps)
    s.res["iou"] = s.ci(lambda r, h: M.grounding_scores(r, h)["iou"], refs, hyps)
    s.res["onset_error"], s.res["offset_error"] = {"value": g["onset_error"]}, {"value": g["offset_error"]}
    s.per[:] = [{"iou": M.segment_iou(r, h)} for r, h in zip(refs, hyps)]


def _event_f1(s: Scoring) -> None:
    refs, hyps = [ex["events"] for ex in s.examples], [p or [] for p in s.parsed]
    f = M.event_f1(refs, hyps)
    s.res["event_f1"] = s.ci(lambda r, h: M.event_f1(r, h)["f1"], refs, hyps)
    s.res["onset_error"], s.res["offset_error"] = {"value": f["onset_error"]}, {"value": f["offset_error"]}


NOTE_FIELDS = M.NOTE_FIELDS


def _note_fields(s: Scoring) -> None:
    refs = [{k: ex[k] for k in NOTE_FIELDS} for ex in s.examples]
    for name in NOTE_FIELDS:
        s.res[name] = s.ci(lambda r, h, name=name: M.note_field_accuracy(r, h)[name], refs, s.parsed)


_TIMING = {"onset_error": ("onset err (s)", False), "offset_error": ("offset err (s)", False)}
_ACCURACY = {"accuracy": ("ACC", True), "macro_f1": ("macro-F1", True)}

for _f in (
    MetricFamily("wer", _wer, ("wer", "cer"), names={"wer": ("WER", False), "cer": ("CER", False)},
                 percent=("wer", "cer"), per_language=True),
    MetricFamily("aas", _aas, ("aas",), lambda text: [{"word": w.word, "start": w.start, "end": w.end}
                                                      for w in tags.parse_srwt(text)],
                 names={"aas": ("AAS (s)", False), "srwt_wer": ("WER", False)}, percent=("srwt_wer",), form_rank=2),
    MetricFamily("bleu", _bleu, ("bleu",), names={"bleu": ("BLEU", True)}, per_language=True),
    MetricFamily("cider", _cider, ("cider_d",),
                 names={"cider_d": ("CIDEr-D", True), "spider": ("SPIDEr", True), "bleu4": ("BLEU-4", True)}),
    MetricFamily("accuracy", _accuracy, ("accuracy",), names=_ACCURACY, percent=("accuracy", "macro_f1")),
    MetricFamily("count", _count, ("accuracy",), names={**_ACCURACY, "mae": ("MAE", False)}, percent=("accuracy",),
                 form_rank=3),
    MetricFamily("iou", _iou, ("iou",), lambda text: [list(sp) for sp in tags.parse_spans(text)],
                 names={"iou": ("IoU", True), **_TIMING}, percent=("iou",), form_rank=1),
    MetricFamily("event_f1", _event_f1, ("event_f1",), tags.parse_events,
                 names={"event_f1": ("event-F1", True), **_TIMING}, percent=("event_f1",), form_rank=2),
    MetricFamily("note_fields", _note_fields, ("pitch",), tags.parse_note,
                 names={k: (f"{k} ACC", True) for k in NOTE_FIELDS}, percent=NOTE_FIELDS, form_rank=0),
):
    register_family(_f)
