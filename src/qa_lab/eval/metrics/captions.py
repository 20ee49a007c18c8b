"""Captions: CIDEr-D, SPIDEr (when Java and SPICE are present), BLEU-4."""

from __future__ import annotations

import re
import shutil

import sacrebleu

from qa_lab.eval.metrics.asr import _reference_streams
from qa_lab.eval.metrics.text import _pairs, _text

_NOT_WORD = re.compile(r"[^\w\s]")

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
    from aac_metrics.functional.spice import check_spice_install  # imported here: aac_metrics loads slowly
    from aac_metrics.utils.checks import check_java_path  # imported here: aac_metrics loads slowly
    from aac_metrics.utils.globals import get_default_cache_path, get_default_java_path  # aac_metrics loads slowly

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
    from aac_metrics.functional.spider import spider as _spider  # imported here: aac_metrics loads slowly

    return float(_spider(cands, mrefs, return_all_scores=False, cache_path=cache_path, java_path=java_path))


def bleu4_captions(references, hypotheses) -> float:
    """Corpus BLEU-4 (0-100) of captions against all their references: sacrebleu on captions tokenised as in cider_d
    (tokenize="none"). Close to, not identical with, coco-caption's BLEU-4 (which smooths and counts differently)."""
    mrefs, cands = _captions(references, hypotheses, "bleu4_captions")
    return float(sacrebleu.corpus_bleu(cands, _reference_streams(mrefs, "bleu4_captions"), tokenize="none").score)
