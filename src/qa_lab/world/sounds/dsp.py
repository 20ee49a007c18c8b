"""Signal primitives for the world's sounds: shaped noise, filters in the frequency domain, wavetable partials,
control curves, fades and placement. Float32 mono at 16 kHz; every random choice comes from the `rng` argument."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.fft import next_fast_len

from qa_lab.frames import SAMPLE_RATE

SR = SAMPLE_RATE
_FADE = SR // 200  # 5 ms edge fades, so a piece never starts or stops with a click
_NYQ = 0.49 * SR  # partials above this are dropped (no aliasing)
_EPS = 1e-12


def _samples(seconds: float, what: str) -> int:
    n = int(round(seconds * SR)) if np.isfinite(seconds) else 0
    if n < 1:
        raise ValueError(f"{what} must be a positive number of seconds, got {seconds!r}")
    return n


def _band(f: np.ndarray, lo: float | None = None, hi: float | None = None, order: int = 2) -> np.ndarray:
    """Butterworth-like magnitude response of a high-pass at `lo` and/or low-pass at `hi` (Hz)."""
    g = np.ones_like(f)
    if lo:
        g /= np.sqrt(1 + (lo / np.maximum(f, 1e-3)) ** (2 * order))
    if hi:
        g /= np.sqrt(1 + (f / hi) ** (2 * order))
    return g


def _peak(f: np.ndarray, fc: float, q: float) -> np.ndarray:
    """Magnitude of a resonant band-pass centred at fc with quality q."""
    f = np.maximum(f, 1e-3)
    return 1 / np.sqrt(1 + q * q * (f / fc - fc / f) ** 2)


def _noise(rng: np.random.Generator, n: int, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(n,) Gaussian noise whose magnitude spectrum is gain(freqs in Hz), unit std; built as a spectrum."""
    m = next_fast_len(n, real=True)
    f = np.fft.rfftfreq(m, 1 / SR).astype(np.float32)
    re, im = rng.standard_normal((2, len(f)), dtype=np.float32)
    x = np.fft.irfft((re + 1j * im) * gain(f), m)[:n]  # float32 throughout: twice as fast
    return x / (np.sqrt(np.dot(x, x) / n) + _EPS)


def _filter(x: np.ndarray, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Zero-phase FFT filter with magnitude gain(freqs); padded so a ringing tail does not wrap around."""
    m = next_fast_len(len(x) + SR // 20, real=True)
    f = np.fft.rfftfreq(m, 1 / SR).astype(np.float32)
    return np.fft.irfft(np.fft.rfft(np.asarray(x, np.float32), m) * gain(f), m)[: len(x)]


def _cycles(freq: float | np.ndarray, n: int) -> np.ndarray:
    """Running phase in cycles of a tone at `freq` Hz (scalar, or (n,) for a glide) -> (n,) float64."""
    if np.ndim(freq) == 0:
        return freq * np.arange(n) / SR
    return (np.cumsum(freq) - freq[0]) / SR


def _wave(cycles: np.ndarray, amps: Sequence[float], phases: Sequence[float] | None = None,
          size: int = 4096) -> np.ndarray:
    """Periodic waveform with harmonic amplitudes amps[k-1], read from a table at phase `cycles` (n,)."""
    amps = np.asarray(amps, np.float64)
    k = np.arange(1, len(amps) + 1)[:, None]
    ph = np.zeros((len(amps), 1)) if phases is None else np.asarray(phases, np.float64)[:, None]
    grid = np.arange(size + 1) / size  # one extra point closes the cycle for interpolation
    table = (amps[:, None] * np.sin(2 * np.pi * (k * grid + ph))).sum(0).astype(np.float32)
    pos = cycles * size  # cycles >= 0, so truncation is floor
    i = pos.astype(np.int64)
    w = (pos - i).astype(np.float32)
    i &= size - 1  # size is a power of two
    lo = table[i]
    return lo + (table[i + 1] - lo) * w


def _partials(freqs: np.ndarray, amps: np.ndarray, n: int, phases: np.ndarray) -> np.ndarray:
    """Sum of sinusoids: freqs (K,) Hz, amps (K,) or (K, n) time-varying, phases (K,) in cycles -> (n,)."""
    cyc = freqs[:, None] * (np.arange(n) / SR) + phases[:, None]  # (K, n) float64: exact phase
    amps = np.asarray(amps, np.float32)
    amps = amps[:, None] if amps.ndim == 1 else amps
    return (amps * _sin(cyc)).sum(0)


def _sin(cycles: np.ndarray) -> np.ndarray:
    """sin(2 pi cycles) in float32, the phase reduced in float64 first (float32 sin is ~10x faster)."""
    return np.sin((2 * np.pi) * (cycles - np.floor(cycles)).astype(np.float32))


_HOP = SR // 100  # control curves (envelopes, gusts) live on a 100 Hz grid


def _curve(rng: np.random.Generator, frames: int, rate_hz: float, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """(frames,) smooth random curve on the 100 Hz grid in [lo, hi], about `rate_hz` new values a second."""
    k = int(frames * _HOP / SR * rate_hz) + 2
    pts = rng.uniform(lo, hi, k)
    pos = np.arange(frames) * ((k - 1) / frames)
    i = pos.astype(np.int64)
    w = pos - i
    w = w * w * (3 - 2 * w)  # smoothstep: no corners at control points
    return pts[i] * (1 - w) + pts[i + 1] * w


def _upsample(curve: np.ndarray, n: int) -> np.ndarray:
    """100 Hz control curve (at least n / 160 + 1 points) -> (n,) float32 by linear interpolation."""
    m = -(-n // _HOP)
    w = np.arange(_HOP, dtype=np.float32) / _HOP
    c = np.asarray(curve[: m + 1], np.float32)
    return (c[:-1, None] * (1 - w) + c[1:, None] * w).ravel()[:n]


def _smooth(rng: np.random.Generator, n: int, rate_hz: float, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """(n,) float32 smooth random curve in [lo, hi] with about `rate_hz` independent values per second."""
    return _upsample(_curve(rng, n // _HOP + 2, rate_hz, lo, hi), n)


def _fades(x: np.ndarray) -> np.ndarray:
    """Raised-cosine 5 ms fade-in and fade-out, in place."""
    k = min(_FADE, len(x) // 2)
    if k:
        ramp = np.sin(0.5 * np.pi * (np.arange(k) + 0.5) / k) ** 2
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


def _place(n: int, hits: Sequence[tuple[int, np.ndarray]]) -> np.ndarray:
    """(n,) silence with each (start sample, audio) added in, cropped at the end."""
    x = np.zeros(n)
    for s, h in hits:
        h = h[: max(0, n - s)]
        x[s:s + len(h)] += h
    return x


def _decay(seconds: float, tau: float) -> np.ndarray:
    """exp(-t / tau) over `seconds`."""
    return np.exp(-np.arange(int(seconds * SR)) / (tau * SR))


def _starts(n: int, gap: float, count: int) -> list[int]:
    """Up to `count` hit positions `gap` s apart from 5 ms in, those that fit in n samples (at least one)."""
    starts = [_FADE + int(i * gap * SR) for i in range(count)]
    return [s for s in starts if s < n - _FADE] or [min(_FADE, n // 4)]
