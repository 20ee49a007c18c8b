"""Backgrounds (stationary textures: rain, traffic, babble ...) and the scenes that combine them with events."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qa_lab.errors import unknown
from qa_lab.world.sounds.dsp import (
    SR, _EPS, _HOP, _band, _curve, _cycles, _fades, _noise, _peak, _place, _samples, _sin, _smooth, _upsample,
    _wave,
)


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
