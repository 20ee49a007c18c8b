"""Speech recognition and translation: WER, CER, BLEU (corpus-level)."""

from __future__ import annotations

import re

import sacrebleu
from torchmetrics.functional.text import char_error_rate as _tm_cer
from torchmetrics.functional.text import word_error_rate as _tm_wer

from qa_lab.eval.metrics.text import _pairs, _text, normalize_english

_WHITESPACE = re.compile(r"\s+")

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
