"""espeak-ng through ctypes: plain lowercase text -> 16 kHz audio with exact word start and end times."""

from __future__ import annotations

import _ctypes
import ctypes
import os
import re
import threading

import espeakng_loader
import numpy as np

from qa_lab.data.audio import resample
from qa_lab.frames import SAMPLE_RATE

# ---------------------------------------------------------------------------------------------
# espeak-ng through ctypes (layouts from espeak-ng's speak_lib.h, API revision 12)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() when data is missing
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character offset of the word in the input
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms from the start of this espeak_Synth call's audio
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union {int number; const char *name; char string[8]}
    ]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

# espeak-ng keeps global state, so one process-wide engine behind one lock; the buffers below are
# what the callback appends to during the (synchronous) espeak_Synth call that holds the lock.
_lock = threading.Lock()
_engine: dict = {}
_chunks: list[np.ndarray] = []
_words: list[tuple[int, int]] = []  # (text_position, audio_position ms) of WORD events
# a child forked while another thread synthesises must not inherit a held lock
os.register_at_fork(after_in_child=lambda: globals().update(_lock=threading.Lock()))


def _on_synth(wav, n_samples, events) -> int:
    if n_samples > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())  # espeak reuses its buffer
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        if events[i].type == _EVENT_WORD:
            _words.append((events[i].text_position, events[i].audio_position))
        i += 1
    return 0  # 0 = keep synthesising


_callback = _Callback(_on_synth)  # module-level: espeak keeps a raw pointer to it
_libc = ctypes.CDLL(None)


def _fresh_lib() -> tuple[ctypes.CDLL, int]:
    """A freshly loaded, initialised libespeak-ng (caller holds _lock) -> (lib, sample rate).

    espeak-ng's wave generator keeps function-level statics (the pitch-flutter phase, among others)
    that carry over from one utterance to the next and that no API call resets, so the same call
    gives different audio depending on what was spoken before. Unloading and reloading the library
    (about 1.5 ms) restores every static, which makes synthesis a pure function of its arguments.
    The price: espeak-ng never frees about 3 KB per loaded voice, so a process leaks that per call.
    """
    if "paths" not in _engine:
        _engine["paths"] = espeakng_loader.get_library_path(), espeakng_loader.get_data_path().encode()
    lib_path, data = _engine["paths"]
    if "lib" in _engine:
        old = _engine.pop("lib")
        old.espeak_Terminate()
        _ctypes.dlclose(old._handle)
    lib = ctypes.CDLL(lib_path)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_Callback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
    if sr <= 0:
        raise RuntimeError(f"espeak_Initialize failed (returned {sr}) with data path {data.decode()}")
    lib.espeak_SetSynthCallback(_callback)
    # breathy variants (+f2, +f3) draw noise from espeak's own PRNG, which init seeds from the clock;
    # the library also calls libc rand(). Fixed seeds for both.
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed(0)
    _libc.srand(0)
    _engine["lib"] = lib
    return lib, sr


def _espeak(text: str, voice: str, rate: int, pitch: int, volume: int,
            pitch_range: int = 50) -> tuple[np.ndarray, int, list[tuple[int, int]]]:
    """-> (T,) int16 at espeak's rate, that rate, [(text_position, audio_ms)] of WORD events."""
    with _lock:
        lib, sr = _fresh_lib()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r} (try one of {VOICES} or a SPEAKERS voice)")
        # after the voice: loading a voice resets these
        for param, value in ((_RATE, rate), (_PITCH, pitch), (_VOLUME, volume), (_RANGE, pitch_range)):
            if lib.espeak_SetParameter(param, int(value), 0) != 0:
                raise ValueError(f"espeak-ng rejected parameter {param}={value} for {text!r}")
        _chunks.clear()
        _words.clear()
        buf = text.encode("utf-8") + b"\0"
        err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        chunks, words = list(_chunks), list(_words)
        _chunks.clear()
        _words.clear()
    if err != 0:
        raise RuntimeError(f"espeak_Synth failed with code {err} for {text!r}")
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return audio, sr, words


ESPEAK_LANG = {"en": "en-us", "de": "de", "fr": "fr", "es": "es", "zh": "cmn"}  # espeak-ng has no "zh" voice name
_CJK = re.compile(r"[\u3400-\u9fff]")


def synthesize(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50, volume: int = 100,
               pitch_range: int = 50) -> tuple[np.ndarray, list[dict]]:
    """Speak plain lowercase `text` -> ((T,) float32 mono 16 kHz, [{"word", "start", "end"}] in seconds).

    Words are the whitespace-split tokens of `text`, contiguous (a word owns the pause after it),
    rounded to 0.01 s; the last word ends where voiced audio ends, and trailing silence beyond a
    50 ms margin is trimmed. `rate` is in words per minute (80-450); `pitch`, `volume` and
    `pitch_range` (how far intonation moves around the pitch: 0 is a monotone) are 0-100.
    Raises ValueError naming the text when espeak's word events do not match its tokens (digits,
    abbreviations and punctuation cause that).

    espeak-ng reads some word pairs as one dictionary entry with one event ("on the", "with the" in
    English; "小 狗" is its word 小狗): such a pair is spoken again with a no-break space between the two,
    which espeak-ng never reads across. Chinese (space-separated words in simplified characters): espeak-ng
    segments it with its own dictionary, often one event per character; events inside a word are merged.
    """
    tokens = text.split()
    if not tokens:
        raise ValueError(f"nothing to speak in {text!r}")
    for name, value in (("pitch", pitch), ("pitch_range", pitch_range)):
        if not 0 <= value <= 100:
            raise ValueError(f"{name} must be in 0-100, got {value} (speaking {text!r})")
    # 1-based character offset where each token starts, to map events back to tokens
    offsets, pos = [], 0
    for tok in tokens:
        pos = text.index(tok, pos)
        offsets.append(pos + 1)
        pos += len(tok)
    cjk = bool(_CJK.search(text))
    spoken = text
    for _ in range(4):
        raw, sr, events = _espeak(spoken, voice, rate, pitch, volume, pitch_range)
        positions = [p for p, _ in events]
        joined = [o for o in offsets[1:] if o not in positions and spoken[o - 2] != "\u00a0"]
        if not joined:
            break
        for o in joined:  # one character for one, so offsets still hold
            spoken = spoken[:o - 2] + "\u00a0" + spoken[o - 1:]
    if cjk:  # keep the first event of each word when every event falls inside a word
        inside = [max((i for i, o in enumerate(offsets) if o <= p), default=-1) for p in positions]
        if all(i >= 0 and p < offsets[i] + len(tokens[i]) for i, p in zip(inside, positions)):
            events = [e for e, p in zip(events, positions) if p in offsets]
    if len(events) != len(tokens) or [p for p, _ in events] != offsets:
        raise ValueError(f"espeak-ng gave {len(positions)} word events at characters {positions} for "
                         f"{len(tokens)} words at {offsets} in {text!r}; use plain lowercase words, no digits "
                         f"or abbreviations")
    audio = np.clip(resample(raw.astype(np.float32) / 32768.0, sr, SAMPLE_RATE), -1.0, 1.0)  # (T,) 16 kHz

    # espeak's own tail is near-silent decay; the last word ends at the last audible sample
    loud = np.flatnonzero(np.abs(audio) > 2e-3)  # about -54 dBFS
    voiced_end = (loud[-1] + 1) if len(loud) else len(audio)
    audio = audio[: min(len(audio), voiced_end + SAMPLE_RATE // 20)]  # keep 50 ms after the voice
    duration = len(audio) / SAMPLE_RATE
    starts = [round(ms / 1000, 2) for _, ms in events]
    last_end = min(round(voiced_end / SAMPLE_RATE, 2), np.floor(duration * 100 + 1e-6) / 100)  # <= duration
    ends = starts[1:] + [max(last_end, starts[-1])]
    words = [{"word": w, "start": s, "end": float(e)} for w, s, e in zip(tokens, starts, ends)]
    return audio, words


# ---------------------------------------------------------------------------------------------
# English voices and variants shipped with espeak-ng: US, British, RP and Scottish accents, male and
# female timbres; all give different audio for the same text (tests check it).

VOICES = ("en-us", "en", "en-us+f3", "en+m3", "en-gb-x-rp+f2", "en-gb-scotland+m5")
