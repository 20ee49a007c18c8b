"""Procedural sound and music synthesis for the audio world: events, backgrounds, scenes, instrument notes, mixing.

Everything is float32 mono at 16 kHz in [-1, 1], and every random choice is drawn from the `rng`
argument, so the same generator state gives byte-identical audio. Noise is shaped in the frequency
domain (one FFT) and periodic tones are read from wavetables, which keeps a 10 s scene near 10 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import soxr
from scipy.fft import next_fast_len

from qa_lab.data.audio import SAMPLE_RATE
from qa_lab.errors import unknown

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


# ---------------------------------------------------------------------------------------------
# Events: (rng, n samples) -> (n,), before fades and peak normalisation.

def _beep(rng, n):
    return _sin(_cycles(rng.uniform(850, 1150), n))


def _chirp(rng, n):
    f0, f1 = rng.uniform(300, 600), rng.uniform(2800, 4500)
    return _sin(_cycles(f0 * (f1 / f0) ** (np.arange(n) / n), n))  # exponential up-sweep


def _click(rng, n):
    tau, lo = rng.uniform(0.0015, 0.004), rng.uniform(1800, 2800)
    hit = rng.standard_normal(int(0.03 * SR)) * _decay(0.03, tau)
    return _filter(_place(n, [(_FADE, hit)]), lambda f: _band(f, lo=lo, order=2))


def _alarm(rng, n):
    f, rate = rng.uniform(2900, 3300), rng.uniform(3.0, 6.0)  # piezo beeping, `rate` pulses per second
    c = (np.arange(n) / SR * rate) % 1.0
    gate = np.clip(np.minimum(c, 0.5 - c) / rate / 0.003, 0, 1)  # on half of each cycle, 3 ms ramps
    return gate * _wave(_cycles(f, n), [1.0, 0.2], [0, rng.random()])


def _knock(rng, n):
    f, tau, gap = rng.uniform(90, 200), rng.uniform(0.012, 0.025), rng.uniform(0.12, 0.22)
    t = np.arange(int(0.15 * SR)) / SR
    hits = []
    for s in _starts(n, gap, int(rng.integers(2, 5))):
        body = np.sin(2 * np.pi * f * t) * np.exp(-t / tau) + 0.5 * np.sin(2 * np.pi * 2.3 * f * t) * np.exp(
            -t / (0.6 * tau))  # a wooden panel: a low mode and an inharmonic one that dies sooner
        thud = _filter(rng.standard_normal(len(t)) * np.exp(-t / 0.004), lambda fr: _band(fr, hi=900))
        hits.append((s, rng.uniform(0.7, 1.0) * (body + 0.4 * thud)))
    return _place(n, hits)


def _dog_bark(rng, n):
    formants = np.array([rng.uniform(500, 700), rng.uniform(1100, 1400), rng.uniform(2200, 2700)])
    widths = np.array([150.0, 200.0, 300.0])
    hits = []
    for s in _starts(n, rng.uniform(0.25, 0.4), int(rng.integers(1, 4))):
        length = rng.uniform(0.1, 0.18)
        m = int(length * SR)
        t = np.arange(m) / SR
        f0 = rng.uniform(300, 500) * (1 - 0.3 * t / length)  # falling pitch (m,)
        k = np.arange(1, int(_NYQ / f0[0]) + 1)[:, None]
        fk = k * f0  # (K, m)
        gain = (1 / (1 + ((fk[..., None] - formants) / widths) ** 2)).sum(-1) / k
        voiced = (gain * _sin(k * _cycles(f0, m))).sum(0)
        breath = _filter(rng.standard_normal(m), lambda fr: _band(fr, 800, 3500))
        env = np.minimum(t / 0.008, 1) * np.exp(-t / (length / 3))
        hits.append((s, env * (voiced / (np.abs(voiced).max() + _EPS) + 0.15 * breath / (breath.std() + _EPS))))
    return _place(n, hits)


def _noise_burst(rng, n):
    return rng.standard_normal(n)  # white: flat to 8 kHz


def _whistle(rng, n):
    t = np.arange(n) / SR
    f = rng.uniform(1900, 2500) * (1 + rng.uniform(-0.05, 0.08) * t / t[-1].clip(1e-3))
    f = f * (1 + 0.015 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))  # vibrato
    env = np.minimum(t / 0.04, 1) * np.minimum((t[-1] - t) / 0.06, 1)
    fc = f.mean()
    breath = _filter(rng.standard_normal(n), lambda fr: _peak(fr, fc, 4))
    return env * (_sin(_cycles(f, n)) + 0.03 * breath / (breath.std() + _EPS))


_BELL_RATIOS = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 2.98, 4.1])  # hum, prime, tierce, quint, nominal, ...
_BELL_AMPS = np.array([0.6, 1.0, 0.8, 0.4, 0.9, 0.4, 0.5, 0.3])


def _bell(rng, n):
    f0, tau = rng.uniform(1100, 1400), rng.uniform(0.6, 1.2)
    amps = (_BELL_AMPS * rng.uniform(0.7, 1.3, len(_BELL_RATIOS)))[:, None] * np.exp(
        -np.arange(n) / SR / (tau / _BELL_RATIOS[:, None] ** 0.8))  # (K, n): upper partials die first
    ring = _partials(f0 * _BELL_RATIOS, amps, n, rng.random(len(_BELL_RATIOS)))
    clang = _filter(rng.standard_normal(n) * np.exp(-np.arange(n) / (0.01 * SR)), lambda f: _band(f, 2000, 7000))
    x = ring / (np.abs(ring).max() + _EPS) + 0.5 * clang / (np.abs(clang).max() + _EPS)
    return np.roll(x, _FADE) * (np.arange(n) >= _FADE)  # strike just after the fade-in


def _clap(rng, n):
    lo, hi, tau = rng.uniform(600, 900), rng.uniform(1800, 2500), rng.uniform(0.006, 0.012)
    t = np.arange(int(0.08 * SR)) / SR
    hits = []
    for s in _starts(n, rng.uniform(0.18, 0.35), int(rng.integers(1, 5))):
        env = sum(a * np.exp(-np.maximum(t - d, 0) / tau) * (t >= d)
                  for a, d in ((1.0, 0.0), (0.7, rng.uniform(0.003, 0.006)), (0.5, rng.uniform(0.008, 0.012))))
        hits.append((s, rng.uniform(0.7, 1.0) * env * rng.standard_normal(len(t))))
    return _filter(_place(n, hits), lambda f: _band(f, lo, hi, order=2))


def _siren(rng, n):
    lo, hi, rate = rng.uniform(600, 750), rng.uniform(1300, 1600), rng.uniform(0.6, 1.2)
    t = np.arange(n) / SR
    f = lo + (hi - lo) * 0.5 * (1 - np.cos(2 * np.pi * rate * t + rng.uniform(0, 0.5 * np.pi)))
    return _wave(_cycles(f, n), [1.0, 0.35, 0.15, 0.07])


def _horn(rng, n):
    f = rng.uniform(380, 460)
    k = np.arange(1, int(_NYQ / (1.26 * f)) + 1)
    amps = _band(k * f, hi=5000, order=1) / k ** 0.5  # harsh, buzzy
    return sum(_wave(_cycles(r * f, n), amps, rng.random(len(k))) for r in (1.0, 1.26))  # a major third


def _tick(rng, n):
    f, tau, gap = rng.uniform(4800, 6400), rng.uniform(0.002, 0.004), rng.uniform(0.2, 0.45)
    t = np.arange(int(0.03 * SR)) / SR
    hits = [(s, np.sin(2 * np.pi * (f * (0.88 if i % 2 else 1.0) * t + rng.random())) * np.exp(-t / tau))
            for i, s in enumerate(_starts(n, gap, int(n / (gap * SR)) + 1))]  # tick, tock, tick, ...
    return _place(n, hits)


# name -> (synth, natural length range in seconds)
_EVENT_SYNTHS: dict[str, tuple[Callable, tuple[float, float]]] = {
    "beep": (_beep, (0.15, 0.5)),
    "chirp": (_chirp, (0.15, 0.5)),
    "click": (_click, (0.1, 0.15)),
    "alarm": (_alarm, (0.8, 1.5)),
    "knock": (_knock, (0.4, 1.0)),
    "dog bark": (_dog_bark, (0.3, 1.2)),
    "noise burst": (_noise_burst, (0.2, 0.8)),
    "whistle": (_whistle, (0.4, 1.2)),
    "bell": (_bell, (0.8, 1.5)),
    "clap": (_clap, (0.2, 1.0)),
    "siren": (_siren, (1.0, 1.5)),
    "horn": (_horn, (0.3, 1.0)),
    "tick": (_tick, (0.5, 1.5)),
}
EVENTS: tuple[str, ...] = tuple(_EVENT_SYNTHS)

EVENT_PHRASES: dict[str, tuple[str, ...]] = {
    "beep": ("a beep sounds", "an electronic beep is heard", "a short beep rings out"),
    "chirp": ("a chirp sweeps up in pitch", "a rising tone sweeps upward", "a quick electronic chirp is heard"),
    "click": ("a click is heard", "something clicks", "a sharp click sounds"),
    "alarm": ("an alarm goes off", "an alarm beeps repeatedly", "a high-pitched alarm sounds"),
    "knock": ("someone knocks", "a knock is heard", "knocking sounds on a door"),
    "dog bark": ("a dog barks", "a dog is barking", "barking is heard"),
    "noise burst": ("a burst of noise is heard", "static hisses briefly", "a short noise burst sounds"),
    "whistle": ("someone whistles", "a whistle is heard", "a high whistle sounds"),
    "bell": ("a bell rings", "a bell is struck", "a bell chimes"),
    "clap": ("someone claps", "hands clap", "clapping is heard"),
    "siren": ("a siren wails", "a siren is heard", "an emergency siren sounds"),
    "horn": ("a horn honks", "a car horn sounds", "a horn blares"),
    "tick": ("a clock ticks", "ticking is heard", "something ticks steadily"),
}


def event(name: str, rng: np.random.Generator, duration: float | None = None) -> np.ndarray:
    """One sound event of class `name` -> (T,) float32 with peak 1.0 (mixing sets the level).

    `duration` in seconds (None draws the class's natural length, 0.1-1.5 s); pitch, timbre and
    rhythm vary within the class. Impulsive classes start a few ms in, so where the world places
    the event at `onset`, it should report onset + active_span(x)[0] and onset + active_span(x)[1].
    """
    if name not in _EVENT_SYNTHS:
        raise unknown("event", name, EVENTS)
    synth, (lo, hi) = _EVENT_SYNTHS[name]
    n = _samples(rng.uniform(lo, hi) if duration is None else duration, f"event {name!r} duration")
    x = _fades(synth(rng, n))
    return (x / (np.abs(x).max() + _EPS)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Backgrounds: (rng, n) -> (n,) stationary texture, before RMS normalisation.

def _sprinkle(rng: np.random.Generator, n: int, grains: np.ndarray) -> np.ndarray:
    """(n,) with each row of grains (count, m) added at a random position (cut at the end)."""
    count, m = grains.shape
    idx = (rng.integers(0, n, count)[:, None] + np.arange(m)).ravel()
    keep = idx < n
    return np.bincount(idx[keep], grains.ravel()[keep], minlength=n)


def _rain(rng, n):
    hiss = _noise(rng, n, lambda f: _band(f, 500, 7000, order=1))
    count = rng.poisson(rng.uniform(150, 350) * n / SR)  # drops: tiny ringing plinks
    t = np.arange(SR // 160, dtype=np.float32) / SR
    f, tau, phase, amp = (a.astype(np.float32)[:, None] for a in (
        rng.uniform(1500, 5000, count), rng.uniform(0.0008, 0.002, count), rng.random(count),
        rng.uniform(0.2, 1.0, count)))
    drops = _sprinkle(rng, n, np.sin((2 * np.pi) * (f * t + phase)) * np.exp(-t / tau) * amp)
    return hiss + 1.5 * drops


def _engine(rng, n):
    fire = rng.uniform(25, 45)  # firing rate, Hz
    cyc = _cycles(fire * (1 + 0.03 * (_smooth(rng, n, 0.5) - 0.5)), n)
    k = np.arange(1, 25)
    tone = _wave(cyc, rng.uniform(0.5, 1.5, len(k)) / k ** 0.8, rng.random(len(k)))
    rumble = _noise(rng, n, lambda f: _band(f, 20, 250, order=2)) * (1 + 0.5 * np.cos(2 * np.pi * cyc))
    return tone / (tone.std() + _EPS) + 0.7 * rumble


def _hum(rng, n):
    mains = (50.0, 60.0)[int(rng.integers(2))]
    amps = rng.uniform(0.3, 1.0, 5) * np.array([0.6, 1.0, 0.5, 0.3, 0.2])  # 2x mains dominates transformer hum
    tone = _wave(_cycles(mains, n), amps, rng.random(5))
    return tone / (tone.std() + _EPS) + 0.05 * _noise(rng, n, lambda f: 1 / np.sqrt(np.maximum(f, 20)))


def _wind(rng, n):
    cut, fc = rng.uniform(300, 600), rng.uniform(500, 1200)
    roar = _noise(rng, n, lambda f: _band(f, 30, cut, order=2)) * _smooth(rng, n, 0.4, 0.3, 1.0)
    howl = _noise(rng, n, lambda f: _peak(f, fc, 5)) * _smooth(rng, n, 0.3, 0.0, 0.6)
    return roar + howl


def _crowd_babble(rng, n):
    # The sum of many talkers' syllable-modulated noises is noise with variance sum_k env_k^2, so
    # the envelopes are drawn at 100 Hz and each voice group needs a single shaped noise.
    frames = n // _HOP + 2
    out = np.zeros(n, np.float32)
    for f1 in (rng.uniform(350, 500), rng.uniform(550, 750)):  # lower and higher voices: first formant
        env = sum(_curve(rng, frames, rng.uniform(3, 6), -0.5, 1.0).clip(0) ** 2 for _ in range(rng.integers(4, 8)))
        voices = _noise(rng, n, lambda f: _peak(f, f1, 0.7) * _band(f, 100, 3500) + 0.3 * _peak(f, 2.6 * f1, 1.5))
        out += _upsample(np.sqrt(env), n) * voices
    return out


def _birdsong(rng, n):
    calls = []
    for _ in range(max(1, rng.poisson(rng.uniform(1.5, 3.0) * n / SR))):  # never a silent song
        s, f, shape = int(rng.integers(0, n)), rng.uniform(2500, 5500), int(rng.integers(3))
        loudness = rng.uniform(0.5, 1.0)  # near and far birds
        for _ in range(int(rng.integers(2, 9))):
            length = rng.uniform(0.03, 0.12)
            m = int(length * SR)
            t = np.arange(m) / SR
            sweep = (1 - 0.3 * t / length, 1 + 0.25 * t / length, 1 + 0.08 * np.sin(2 * np.pi * 30 * t))[shape]
            env = np.sin(np.pi * t / length) ** 2
            calls.append((s, loudness * rng.uniform(0.6, 1.0) * env * _sin(_cycles(f * sweep, m))))
            s += m + int(rng.uniform(0.02, 0.08) * SR)
    ambience = _noise(rng, n, lambda f: _band(f, 100, 1500, order=1))
    return _place(n, calls) + 0.1 * ambience


def _water_stream(rng, n):
    base = _noise(rng, n, lambda f: _band(f, 200, 4000, order=1) / np.sqrt(np.maximum(f, 200) / 200))
    count = rng.poisson(rng.uniform(40, 100) * n / SR)  # bubbles: short rising-pitch resonances
    m = SR // 50
    t = np.arange(m, dtype=np.float32) / SR
    f0, tau, rise, amp = (a.astype(np.float32)[:, None] for a in (
        np.exp(rng.uniform(np.log(500), np.log(2500), count)), rng.uniform(0.003, 0.01, count),
        rng.uniform(0.5, 2.0, count), rng.uniform(0.3, 1.0, count)))
    ring = np.sin((2 * np.pi) * f0 * (t + rise * t * t / (2 * tau))) * np.exp(-t / tau) * amp  # (count, m)
    return base + 1.5 * _sprinkle(rng, n, ring)


def _traffic(rng, n):
    seconds = n / SR
    rumble = _noise(rng, n, lambda f: _band(f, 25, 250, order=2))
    frames = np.arange(n // _HOP + 2) * (_HOP / SR)
    cars = np.full(len(frames), 0.4)  # distant traffic never stops
    for _ in range(rng.poisson(rng.uniform(0.2, 0.6) * (seconds + 4))):
        c, w = rng.uniform(-2, seconds + 2), rng.uniform(0.7, 2.0)
        cars += rng.uniform(0.5, 1.2) * np.exp(-0.5 * ((frames - c) / w) ** 2)
    tyres = _noise(rng, n, lambda f: _band(f, 300, 2500, order=1)) * _upsample(cars, n)
    return 0.6 * rumble + tyres


_BACKGROUND_SYNTHS: dict[str, Callable] = {
    "rain": _rain, "engine": _engine, "hum": _hum, "wind": _wind, "crowd babble": _crowd_babble,
    "birdsong": _birdsong, "water stream": _water_stream, "traffic": _traffic,
}
BACKGROUNDS: tuple[str, ...] = tuple(_BACKGROUND_SYNTHS)


def background(name: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A stationary texture `seconds` long -> (round(seconds * 16000),) float32 with RMS 0.1.

    The rare sample beyond 0.8 (8x the RMS: a loud car, a close bird) is bent softly under 1.0,
    which moves the RMS by less than 0.01 dB.
    """
    if name not in _BACKGROUND_SYNTHS:
        raise unknown("background", name, BACKGROUNDS)
    x = _BACKGROUND_SYNTHS[name](rng, _samples(seconds, f"background {name!r} length"))
    x = _fades(x - x.mean())
    x = x * (0.1 / (np.sqrt(np.mean(x * x)) + _EPS))
    over = np.abs(x) > 0.8
    if over.any():
        x[over] = np.sign(x[over]) * (0.8 + 0.2 * np.tanh((np.abs(x[over]) - 0.8) / 0.2))
    return x.astype(np.float32)


SCENES: dict[str, dict] = {
    "street": {"backgrounds": ("traffic", "engine", "wind"),
               "events": ("horn", "siren", "dog bark", "whistle", "beep", "clap")},
    "park": {"backgrounds": ("birdsong", "wind", "crowd babble"),
             "events": ("dog bark", "whistle", "clap", "chirp", "bell")},
    "kitchen": {"backgrounds": ("hum", "water stream"),
                "events": ("beep", "knock", "click", "tick", "alarm", "bell")},
    "office": {"backgrounds": ("hum", "crowd babble"),
               "events": ("click", "beep", "knock", "tick", "alarm", "noise burst")},
    "train station": {"backgrounds": ("crowd babble", "engine", "hum"),
                      "events": ("bell", "horn", "whistle", "beep", "clap", "siren")},
    "rainy forest": {"backgrounds": ("rain", "wind", "birdsong"),
                     "events": ("chirp", "knock", "whistle", "dog bark")},
    "riverside": {"backgrounds": ("water stream", "birdsong", "wind"),
                  "events": ("chirp", "dog bark", "clap", "whistle", "bell")},
}


# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# Levels and mixing

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
