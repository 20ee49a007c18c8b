"""Sound events: a dog bark, a bell, a siren ... one synthesiser per class, with the phrases captions use."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qa_lab.errors import unknown
from qa_lab.world.sounds.dsp import (
    SR, _EPS, _FADE, _NYQ, _band, _cycles, _decay, _fades, _filter, _partials, _peak, _place, _samples, _sin,
    _starts, _wave,
)


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
