"""Levels and mixing: RMS in dBFS, items placed over a background at a level or an SNR, the active span."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa_lab.world.sounds.dsp import SR, _samples


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS (a full-scale sine is -3 dB); -inf for silence."""
    rms = float(np.sqrt(np.mean(np.square(np.asarray(x, np.float64))))) if len(x) else 0.0
    return float(20 * np.log10(rms)) if rms > 0 else float("-inf")


def set_rms_db(x: np.ndarray, db: float) -> np.ndarray:
    """`x` scaled to an RMS of `db` dBFS -> float32; ValueError for silence, which has no level to set."""
    level = rms_db(x)
    if not np.isfinite(level):
        raise ValueError(f"cannot set the level of silent audio ({len(x)} samples) to {db} dBFS")
    return (np.asarray(x, np.float64) * 10 ** ((db - level) / 20)).astype(np.float32)


def mix(background: np.ndarray | None, items: Sequence[tuple[np.ndarray, float, float]], seconds: float,
        snr_db: float | None = None) -> np.ndarray:
    """Place items over a background -> (round(seconds * 16000),) float32, peak <= 0.99.

    items: (audio, onset s, level dBFS of that audio's RMS); an item running past the end is cut.
    With `snr_db` the background is scaled so 20 log10(RMS(items) / RMS(background)) = snr_db, both
    RMS taken over the whole clip (without items, or without `snr_db`, it keeps its level). A mix
    whose peak exceeds 0.99 is scaled down as a whole, so levels change but ratios and SNR do not.
    """
    n = _samples(seconds, "mix length")
    fg = np.zeros(n, np.float32)
    for i, (audio, onset, level) in enumerate(items):
        if not (np.isfinite(onset) and onset >= 0):
            raise ValueError(f"mix item {i}: onset must be >= 0 seconds, got {onset!r}")
        if not np.isfinite(rms_db(audio)):
            raise ValueError(f"mix item {i}: audio is silent ({len(audio)} samples), so it cannot be set to "
                             f"{level} dBFS")
        s = int(round(onset * SR))
        seg = set_rms_db(audio, level)[: max(0, n - s)]
        fg[s:s + len(seg)] += seg
    out = fg
    if background is not None:
        if len(background) < n:
            raise ValueError(f"background has {len(background)} samples; the {seconds} s mix needs {n}")
        bg = np.asarray(background[:n], np.float32)
        if snr_db is not None and fg.any():
            bg_rms = np.sqrt(np.dot(bg, bg) / n)
            if bg_rms == 0:
                raise ValueError(f"background is silent; cannot mix it at {snr_db} dB SNR")
            bg = bg * np.float32(np.sqrt(np.dot(fg, fg) / n) / bg_rms / 10 ** (snr_db / 20))
        out = fg + bg
    peak = float(np.abs(out).max())
    if peak > 0.99:
        out *= np.float32(0.99 * (1 - 2e-7) / peak)  # a hair under, so float32 rounding stays <= 0.99
    return out


def active_span(x: np.ndarray, threshold_db: float = -40.0) -> tuple[float, float]:
    """(start, end) seconds of the first and one past the last sample within `threshold_db` of the peak.

    The world reports an event placed at `onset` as starting at onset + start and ending at onset + end.
    """
    a = np.abs(np.asarray(x, np.float64))
    if not len(a) or a.max() == 0:
        raise ValueError(f"active_span of silent audio ({len(a)} samples) is undefined")
    idx = np.flatnonzero(a >= a.max() * 10 ** (threshold_db / 20))
    return float(idx[0] / SR), float((idx[-1] + 1) / SR)
