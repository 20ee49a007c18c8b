"""Instrument notes and phrases: one synthesiser per instrument family, with its own envelope and partials."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import soxr

from qa_lab.errors import unknown
from qa_lab.world.sounds.dsp import SR, _EPS, _NYQ, _band, _cycles, _decay, _noise, _partials, _samples, _wave


# Instrument notes: (f0 Hz, brightness 0..1, n, rng) -> (n,) with the instrument's own envelope.

def _adsr(n: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
    """(n,) envelope: linear attack, exponential decay (time constant `decay` s) to `sustain`, and a
    release that reaches 0 at the last sample (at most half the note)."""
    r = min(int(release * SR), n // 2)
    t = np.arange(n - r) / SR
    a = max(attack, 1 / SR)
    on = np.where(t < a, t / a, sustain + (1 - sustain) * np.exp(-np.maximum(t - a, 0) / decay))
    return np.concatenate([on, on[-1] * (1 - np.arange(1, r + 1) / r) ** 2])


def _harmonic_count(f0: float, most: int) -> int:
    return max(1, min(most, int(_NYQ / f0)))


def _organ(f0, b, n, rng):
    amps = np.zeros(8)
    amps[[0, 1, 2, 3, 5, 7]] = np.array([1.0, 0.7, 0.5, 0.35, 0.25, 0.2]) * b ** np.array([0, 1, 2, 2, 3, 3]) \
        * rng.uniform(0.8, 1.2, 6)  # drawbars at 1, 2, 3, 4, 6, 8 x f0
    amps = amps[: _harmonic_count(f0, 8)]
    return _wave(_cycles(f0, n), amps, rng.random(len(amps))) * _adsr(n, 0.01, 0.05, 0.9, 0.06)


def _flute(f0, b, n, rng):
    t = np.arange(n) / SR
    vibrato = 0.004 * np.clip((t - 0.2) / 0.3, 0, 1) * np.sin(2 * np.pi * rng.uniform(4.5, 5.5) * t)
    amps = (np.array([1.0, 0.3, 0.12, 0.05]) * b ** np.arange(4))[: _harmonic_count(f0, 4)]
    tone = _wave(_cycles(f0 * (1 + vibrato), n), amps, rng.random(len(amps)))
    breath = _noise(rng, n, lambda f: _band(f, f0, min(4 * f0, 7000), order=1))
    return (tone + 0.04 * breath) * _adsr(n, 0.06, 0.1, 0.85, 0.08)


def _guitar(f0, b, n, rng):
    # Karplus-Strong: a noise burst circulating in a delay line of N samples with a two-tap average
    # (which adds half a sample). It runs at rate f0 * (N + 0.5), so the pitch is exact, and is then
    # resampled to 16 kHz; computed a period at a time since each period only reads the one before.
    N = max(int(round(SR / f0 - 0.5)), 64)  # short loops damp too fast: high notes run above 16 kHz
    rate = f0 * (N + 0.5)
    m = int(np.ceil(n * rate / SR)) + 64
    y = np.zeros(m)
    exc = rng.uniform(-1, 1, N + 1)
    exc = exc - np.roll(exc, max(1, int(rng.uniform(0.1, 0.3) * N)))  # plucked away from the bridge
    spec = np.fft.rfft(exc)
    spec[0] = 0  # no DC: the loop would keep it
    spec /= 1 + (np.fft.rfftfreq(N + 1, 1 / rate) / (f0 * (2 + 20 * b))) ** 2  # softer pluck: darker
    y[: N + 1] = np.fft.irfft(spec, N + 1)
    g = 10 ** (-3 / (np.clip(6.0 * (110 / f0) ** 0.5, 0.8, 8.0) * f0))  # per-period loss for the T60
    for s in range(N + 1, m, N):
        e = min(s + N, m)
        y[s:e] = g * 0.5 * (y[s - N:e - N] + y[s - N - 1:e - N - 1])
    out = soxr.resample(y, rate, SR)[:n]
    return np.pad(out, (0, n - len(out))) * _adsr(n, 0.002, 1e3, 1.0, 0.05)


_BAR_RATIOS = np.array([1.0, 2.76, 5.40, 8.93])  # free-bar modes: the inharmonic partials of struck bars


def _mallet(f0, b, n, rng):
    ratios = _BAR_RATIOS[f0 * _BAR_RATIOS < _NYQ]
    tau = np.clip(1.2 * (261.6 / f0) ** 0.5, 0.15, 2.5) / ratios ** 1.2
    amps = (np.array([1.0, 0.5, 0.25, 0.12])[: len(ratios)] * b ** np.arange(len(ratios)))[:, None] \
        * np.exp(-np.arange(n) / SR / tau[:, None])  # (K, n)
    return _partials(f0 * ratios, amps, n, rng.random(len(ratios))) * _adsr(n, 0.002, 1e3, 1.0, 0.04)


def _brass(f0, b, n, rng):
    # sawtooth through a low-pass whose cutoff opens on the attack and settles (the brass "blat")
    k = np.arange(1, _harmonic_count(f0, 30) + 1)
    t = np.arange(n) / SR
    opening = np.minimum(t / 0.04, 1) * (0.65 + 0.35 * np.exp(-np.maximum(t - 0.04, 0) / 0.2))
    cutoff = f0 * (1.5 + 12 * b * opening)  # (n,)
    amps = 1 / k[:, None] / np.sqrt(1 + (k[:, None] * f0 / cutoff) ** 4)  # (K, n)
    return _partials(k * f0, amps, n, rng.random(len(k))) * _adsr(n, 0.04, 0.15, 0.8, 0.08)


def _keyboard(f0, b, n, rng):
    # piano-like: slightly stretched partials, each decaying faster the higher it is, plus a hammer thump
    k = np.arange(1, _harmonic_count(f0, 20) + 1)
    freqs = k * f0 * np.sqrt(1 + 1e-4 * k * k)
    keep = freqs < _NYQ
    k, freqs = k[keep], freqs[keep]
    rates = (0.6 + 0.25 * k) * (f0 / 261.6) ** 0.5  # 1/s
    amps = (rng.uniform(0.7, 1.3, len(k)) / k ** (2.0 - b))[:, None] * np.exp(-rates[:, None] * np.arange(n) / SR)
    m = min(n, SR // 50)
    hammer = np.zeros(n)
    hammer[:m] = 0.3 * b * rng.standard_normal(m) * _decay(0.02, 0.004)[:m]
    return (_partials(freqs, amps, n, rng.random(len(k))) + hammer) * _adsr(n, 0.003, 1e3, 1.0, 0.1)


def _bass(f0, b, n, rng):
    k = np.arange(1, _harmonic_count(f0, 10) + 1)
    rates = 0.8 + 0.5 * k * (1.2 - b)
    amps = (b ** (k - 1) / k ** 1.5)[:, None] * np.exp(-rates[:, None] * np.arange(n) / SR)
    return _partials(k * f0, amps, n, rng.random(len(k))) * _adsr(n, 0.005, 1e3, 1.0, 0.06)


def _string(f0, b, n, rng):
    t = np.arange(n) / SR
    vibrato = 0.005 * np.clip((t - 0.3) / 0.3, 0, 1) * np.sin(2 * np.pi * rng.uniform(5, 6) * t)
    k = np.arange(1, _harmonic_count(f0 * 1.01, 30) + 1)
    amps = _band(k * f0, hi=f0 * (3 + 10 * b), order=2) / k  # bowed sawtooth
    tone = _wave(_cycles(f0 * (1 + vibrato), n), amps, rng.random(len(k)))
    return tone * _adsr(n, 0.12, 0.2, 0.85, 0.15)


def _reed(f0, b, n, rng):
    k = np.arange(1, _harmonic_count(f0, 20) + 1)
    amps = np.where(k % 2 == 1, 1.0, 0.15) / k * b ** ((k - 1) / 2)  # clarinet-like: odd harmonics
    return _wave(_cycles(f0, n), amps, rng.random(len(k))) * _adsr(n, 0.03, 0.1, 0.9, 0.07)


_INSTRUMENT_SYNTHS: dict[str, Callable] = {
    "organ": _organ, "flute": _flute, "guitar": _guitar, "mallet": _mallet, "brass": _brass,
    "keyboard": _keyboard, "bass": _bass, "string": _string, "reed": _reed,
}
INSTRUMENTS: tuple[str, ...] = tuple(_INSTRUMENT_SYNTHS)


def note(pitch: int, velocity: int, instrument: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One note -> (round(seconds * 16000),) float32, released to silence by its last sample.

    MIDI `pitch` 21-108 sounds at exactly 440 * 2 ** ((pitch - 69) / 12) Hz; `velocity` 1-127 sets
    the level (peak 0.9 at 127, 36 dB lower at 1) and the brightness.
    """
    if instrument not in _INSTRUMENT_SYNTHS:
        raise unknown("instrument", instrument, INSTRUMENTS)
    if not (isinstance(pitch, (int, np.integer)) and 21 <= pitch <= 108):
        raise ValueError(f"pitch {pitch!r} is not a MIDI note number in 21-108 (A0-C8)")
    if not (isinstance(velocity, (int, np.integer)) and 1 <= velocity <= 127):
        raise ValueError(f"velocity {velocity!r} is not a MIDI velocity in 1-127")
    n = _samples(seconds, f"note length for {instrument!r}")
    v = velocity / 127
    x = _INSTRUMENT_SYNTHS[instrument](440.0 * 2 ** ((pitch - 69) / 12), 0.35 + 0.65 * v, n, rng)
    gain = 0.9 * 10 ** (-36 * (1 - v) / 20)
    return (x * (gain / (np.abs(x).max() + _EPS))).astype(np.float32)


def phrase(pitches: Sequence[int], tempo_bpm: float, instrument: str, velocity: int,
           rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """Quarter notes, one per beat at `tempo_bpm` -> ((T,) float32, [{"pitch", "start", "end"}]).

    Each note fills its beat (its release ends at the next note's start); times in seconds, rounded
    to 0.01.
    """
    if len(pitches) == 0:
        raise ValueError("phrase needs at least one pitch")
    if not (np.isfinite(tempo_bpm) and 0 < tempo_bpm <= 1000):
        raise ValueError(f"tempo_bpm must be in (0, 1000] beats per minute, got {tempo_bpm!r}")
    beat = 60.0 / tempo_bpm
    bounds = [int(round(i * beat * SR)) for i in range(len(pitches) + 1)]
    out = np.zeros(bounds[-1], np.float32)
    notes = []
    for p, s, e in zip(pitches, bounds, bounds[1:]):
        out[s:e] = note(p, velocity, instrument, (e - s) / SR, rng)
        notes.append({"pitch": int(p), "start": round(s / SR, 2), "end": round(e / SR, 2)})
    return out, notes
