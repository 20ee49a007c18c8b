"""Procedural sound and music synthesis for the audio world: events, backgrounds, scenes, instrument notes, mixing.

Everything is float32 mono at 16 kHz in [-1, 1], and every random choice is drawn from the `rng`
argument, so the same generator state gives byte-identical audio. Noise is shaped in the frequency
domain (one FFT) and periodic tones are read from wavetables, which keeps a 10 s scene near 10 ms.
"""

from qa_lab.world.sounds.backgrounds import BACKGROUNDS, SCENES, background
from qa_lab.world.sounds.dsp import SR
from qa_lab.world.sounds.events import EVENTS, EVENT_PHRASES, event
from qa_lab.world.sounds.instruments import INSTRUMENTS, note, phrase
from qa_lab.world.sounds.mixing import active_span, mix, rms_db, set_rms_db

__all__ = ["BACKGROUNDS", "EVENTS", "EVENT_PHRASES", "INSTRUMENTS", "SCENES", "SR", "active_span", "background", "event",
           "mix", "note", "phrase", "rms_db", "set_rms_db"]
