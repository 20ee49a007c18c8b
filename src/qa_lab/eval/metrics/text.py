"""Text normalisation shared by the metrics (Whisper's English normaliser, labels) and their input checks."""

from __future__ import annotations

import functools

from whisper_normalizer.english import EnglishTextNormalizer

_TRAILING_PUNCT = ".,!?;:。，！？；：、"

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
