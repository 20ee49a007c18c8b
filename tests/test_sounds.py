import numpy as np
import pytest

from qa_lab.world.sounds import (BACKGROUNDS, EVENT_PHRASES, EVENTS, INSTRUMENTS, SCENES, active_span, background, event,
                                 mix, note, phrase, rms_db, set_rms_db)

SR = 16_000


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    return float(np.fft.rfftfreq(8 * len(x), 1 / SR)[spec.argmax()])


def centroid_hz(x: np.ndarray) -> float:
    p = np.abs(np.fft.rfft(x)) ** 2
    return float((p * np.fft.rfftfreq(len(x), 1 / SR)).sum() / p.sum())


# 40 triangular mel filters, 50 Hz - 8 kHz, on a 2 s FFT grid
_F = np.fft.rfftfreq(2 * SR, 1 / SR)
_C = 700 * (10 ** (np.linspace(*(2595 * np.log10(1 + np.array([50, 8000]) / 700)), 42) / 2595) - 1)
_MEL = np.clip(np.minimum((_F - _C[:-2, None]) / (_C[1:-1, None] - _C[:-2, None]),
                          (_C[2:, None] - _F) / (_C[2:, None] - _C[1:-1, None])), 0, None)


def log_mel_shape(x: np.ndarray) -> np.ndarray:
    """(40,) level-free spectral shape: log band energies (60 dB range) minus their mean."""
    bands = _MEL @ np.abs(np.fft.rfft(x, 2 * SR)) ** 2
    v = np.log10(np.maximum(bands, 1e-6 * bands.max()))
    return v - v.mean()


def test_catalogues_are_consistent():
    assert len(EVENTS) >= 12 and len(BACKGROUNDS) >= 6 and len(SCENES) >= 6 and len(INSTRUMENTS) >= 6
    for name in EVENTS + BACKGROUNDS + tuple(SCENES) + INSTRUMENTS:
        assert name == name.lower().strip() and name.replace(" ", "").isalpha(), name
    assert set(EVENT_PHRASES) == set(EVENTS)
    for name, phrases in EVENT_PHRASES.items():
        assert len(phrases) >= 3 and len(set(phrases)) == len(phrases), name
        assert all(len(p.split()) >= 2 for p in phrases), name  # a subject and a verb
    for scene, spec in SCENES.items():
        assert set(spec) == {"backgrounds", "events"}, scene
        assert spec["backgrounds"] and set(spec["backgrounds"]) <= set(BACKGROUNDS), scene
        assert spec["events"] and set(spec["events"]) <= set(EVENTS), scene


def test_same_seed_same_bytes_other_seed_other_audio():
    renders = {f"event {e}": lambda r, e=e: event(e, r) for e in EVENTS}
    renders |= {f"background {b}": lambda r, b=b: background(b, 1.0, r) for b in BACKGROUNDS}
    renders |= {f"note {i}": lambda r, i=i: note(57, 90, i, 0.5, r) for i in INSTRUMENTS}
    renders["phrase"] = lambda r: phrase([60, 64, 67], 240, "guitar", 80, r)[0]
    for what, render in renders.items():
        a, b, c = render(rng(7)), render(rng(7)), render(rng(8))
        assert a.tobytes() == b.tobytes(), what
        assert a.tobytes() != c.tobytes(), what


def test_every_event_renders_at_natural_and_given_length():
    r = rng(1)
    for name in EVENTS:
        for duration in (None, 0.05, 2.5):
            x = event(name, r, duration)
            assert x.dtype == np.float32 and x.ndim == 1 and np.isfinite(x).all(), name
            if duration is None:
                assert 0.1 * SR <= len(x) <= 1.5 * SR, (name, len(x))
            else:
                assert len(x) == round(duration * SR), (name, duration)
            assert abs(np.abs(x).max() - 1.0) < 1e-5, name
            assert abs(x[0]) < 1e-3 and abs(x[-1]) < 1e-3, name  # faded edges: no clicks


def test_every_background_renders_stationary_at_rms_0_1():
    r = rng(2)
    for name in BACKGROUNDS:
        x = background(name, 3.0, r)
        assert x.dtype == np.float32 and x.shape == (3 * SR,) and np.isfinite(x).all(), name
        assert np.abs(x).max() <= 1.0 and abs(rms_db(x) - (-20.0)) < 0.01, name
        halves = [rms_db(x[: len(x) // 2]), rms_db(x[len(x) // 2:])]
        assert abs(halves[0] - halves[1]) < 6, (name, halves)  # a texture, not a single event


def test_every_instrument_renders_every_pitch_in_range():
    r = rng(3)
    for name in INSTRUMENTS:
        for pitch in (21, 60, 108):
            x = note(pitch, 100, name, 0.4, r)
            assert x.dtype == np.float32 and x.shape == (round(0.4 * SR),) and np.isfinite(x).all(), (name, pitch)
            assert 0 < np.abs(x).max() <= 1.0 and abs(x[-1]) < 1e-3, (name, pitch)


@pytest.mark.parametrize("instrument", ["organ", "flute"])
def test_note_sounds_its_midi_fundamental(instrument):
    for pitch, hz in ((69, 440.0), (60, 261.63), (45, 110.0), (81, 880.0)):
        x = note(pitch, 100, instrument, 1.0, rng(pitch))
        assert abs(peak_hz(x) - hz) < 0.02 * hz, (pitch, peak_hz(x))


def test_all_instruments_are_in_tune_at_a4_and_c4():
    for name in INSTRUMENTS:
        for pitch, hz in ((69, 440.0), (60, 261.63)):
            assert abs(peak_hz(note(pitch, 100, name, 1.0, rng(4))) - hz) < 0.02 * hz, (name, pitch)


def test_velocity_raises_level_and_brightness():
    for name in INSTRUMENTS:
        notes = [note(57, v, name, 0.8, rng(5)) for v in (20, 64, 127)]
        levels = [rms_db(x) for x in notes]
        assert levels[0] < levels[1] < levels[2], (name, levels)
        assert centroid_hz(notes[2]) > centroid_hz(notes[0]), name


def test_phrase_places_one_note_per_beat():
    pitches = [60, 64, 67, 72, 69]
    audio, notes = phrase(pitches, 150, "organ", 100, rng(6))
    beat = 60 / 150
    assert len(audio) == round(len(pitches) * beat * SR)
    assert [n["pitch"] for n in notes] == pitches
    assert np.allclose(np.diff([n["start"] for n in notes]), beat, atol=0.011)
    assert all(abs(n["end"] - n["start"] - beat) <= 0.011 for n in notes)
    for n in notes:  # each beat sounds its own pitch
        seg = audio[round(n["start"] * SR): round(n["end"] * SR)]
        hz = 440 * 2 ** ((n["pitch"] - 69) / 12)
        assert abs(peak_hz(seg) - hz) < 0.02 * hz, n
        assert abs(seg[0]) < 1e-3  # silence between notes: a clean onset at every beat


def test_rms_db_and_set_rms_db():
    x = np.sin(2 * np.pi * 440 * np.arange(SR) / SR).astype(np.float32)
    assert abs(rms_db(x) - (-3.01)) < 0.01  # full-scale sine
    assert abs(rms_db(set_rms_db(x, -26.5)) - (-26.5)) < 1e-3
    with pytest.raises(ValueError, match="silent"):
        set_rms_db(np.zeros(100, np.float32), -20)


def test_mix_hits_the_requested_snr_and_never_clips():
    r = rng(7)
    bg = background("rain", 4.0, r)
    items = [(event("beep", r), 0.5, -30.0), (event("dog bark", r), 1.7, -28.0), (event("bell", r), 3.6, -25.0)]
    fg = mix(None, items, 4.0)
    assert fg.shape == (4 * SR,) and fg.dtype == np.float32
    assert abs(rms_db(fg[round(0.5 * SR): round(0.5 * SR) + len(items[0][0])]) - (-30.0)) < 0.1  # item at its level
    assert np.abs(fg[round(3.99 * SR):]).max() > 0  # the bell runs past the end and is cut, not dropped
    for snr, loud in ((10.0, False), (0.0, False), (-5.0, True)):
        its = [(a, t, lvl + (25 if loud else 0)) for a, t, lvl in items]
        out = mix(bg, its, 4.0, snr_db=snr)
        assert np.abs(out).max() <= 0.99, snr
        if loud:
            assert np.abs(out).max() > 0.98  # limited by scaling down, not by clipping
        # out = a * items + b * background: recover a and b, then measure the SNR that was made
        ref = mix(None, its, 4.0)
        (a, b), *_ = np.linalg.lstsq(np.stack([ref, bg], 1).astype(np.float64), out.astype(np.float64), rcond=None)
        assert np.abs(out - (a * ref + b * bg)).max() < 1e-4, snr  # nothing was clipped or distorted
        assert abs(rms_db(a * ref) - rms_db(b * bg) - snr) < 0.5, snr
    assert np.array_equal(mix(bg, [], 4.0, snr_db=3.0), bg)  # nothing to be relative to: left as is
    with pytest.raises(ValueError, match="mix item 0: onset"):
        mix(bg, [(items[0][0], -1.0, -20.0)], 4.0)
    with pytest.raises(ValueError, match="background has 64000 samples"):
        mix(bg, items, 5.0)


def test_active_span_finds_an_event_placed_in_silence():
    r = rng(8)
    for name in EVENTS:
        x = event(name, r)
        start, end = active_span(x)
        assert 0 <= start < 0.01 and start < end <= len(x) / SR, name
        out = mix(None, [(x, 1.234, -20.0)], 4.0)
        s, e = active_span(out)
        assert abs(s - 1.234) <= 0.01, (name, s)
        assert abs(s - (1.234 + start)) <= 1 / SR and abs(e - (1.234 + end)) <= 1 / SR, name
    with pytest.raises(ValueError, match="silent"):
        active_span(np.zeros(10))


def test_event_classes_are_told_apart_by_their_spectra():
    def shapes(seed, k):
        r = rng(seed)
        return {e: np.array([log_mel_shape(event(e, r)) for _ in range(k)]) for e in EVENTS}

    train, test = shapes(10, 8), shapes(11, 8)
    centroids = np.stack([train[e].mean(0) for e in EVENTS])  # (classes, 40)
    hits = [((test[e][:, None] - centroids) ** 2).sum(-1).argmin(1) == i for i, e in enumerate(EVENTS)]
    recall = {e: float(np.mean(h)) for e, h in zip(EVENTS, hits)}
    assert np.mean(hits) >= 0.9 and min(recall.values()) >= 0.5, recall  # and no class is another's twin


def test_unknown_names_and_out_of_range_notes_are_named():
    with pytest.raises(ValueError, match=r"unknown event 'meow'.*beep"):
        event("meow", rng())
    with pytest.raises(ValueError, match=r"unknown background 'lava'.*rain"):
        background("lava", 1.0, rng())
    with pytest.raises(ValueError, match=r"unknown instrument 'kazoo'.*organ"):
        note(60, 100, "kazoo", 0.5, rng())
    for pitch in (20, 109):
        with pytest.raises(ValueError, match=f"pitch {pitch} .*21-108"):
            note(pitch, 100, "organ", 0.5, rng())
    for velocity in (0, 128):
        with pytest.raises(ValueError, match=f"velocity {velocity} .*1-127"):
            note(60, velocity, "organ", 0.5, rng())
    with pytest.raises(ValueError, match=r"unknown instrument 'kazoo'"):
        phrase([60], 120, "kazoo", 100, rng())
    with pytest.raises(ValueError, match="event 'beep' duration"):
        event("beep", rng(), 0.0)
