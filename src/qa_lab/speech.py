"""Offline spoken English with exact word timestamps: espeak-ng via ctypes, a sentence grammar, a cached corpus."""

from __future__ import annotations

import _ctypes
import ctypes
import hashlib
import json
import os
import shutil
import threading
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from qa_lab.audio import SAMPLE_RATE, resample

CORPUS_VERSION = 1  # bump when synthesis, grammar or manifest layout changes: it is part of the cache key
DATASET = "builtin-speech"

# ---------------------------------------------------------------------------------------------
# espeak-ng through ctypes (layouts from espeak-ng's speak_lib.h, API revision 12)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # return an error instead of calling exit() when data is missing
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1
_RATE, _VOLUME, _PITCH = 1, 2, 3


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
        import espeakng_loader

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


def _espeak(text: str, voice: str, rate: int, pitch: int,
            volume: int) -> tuple[np.ndarray, int, list[tuple[int, int]]]:
    """-> (T,) int16 at espeak's rate, that rate, [(text_position, audio_ms)] of WORD events."""
    with _lock:
        lib, sr = _fresh_lib()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r} (try one of {VOICES})")
        # after the voice: loading a voice resets these
        for param, value in ((_RATE, rate), (_PITCH, pitch), (_VOLUME, volume)):
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


def synthesize(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
               volume: int = 100) -> tuple[np.ndarray, list[dict]]:
    """Speak plain lowercase `text` -> ((T,) float32 mono 16 kHz, [{"word", "start", "end"}] in seconds).

    Words are the whitespace-split tokens of `text`, contiguous (a word owns the pause after it),
    rounded to 0.01 s; the last word ends where voiced audio ends, and trailing silence beyond a
    50 ms margin is trimmed. `rate` is in words per minute (80-450), `pitch` and `volume` 0-100.
    Raises ValueError naming the text when espeak's word events do not match its tokens (digits,
    abbreviations and punctuation cause that).
    """
    tokens = text.split()
    if not tokens:
        raise ValueError(f"nothing to speak in {text!r}")
    raw, sr, events = _espeak(text, voice, rate, pitch, volume)
    # 1-based character offset where each token starts, to map events back to tokens
    offsets, pos = [], 0
    for tok in tokens:
        pos = text.index(tok, pos)
        offsets.append(pos + 1)
        pos += len(tok)
    if len(events) != len(tokens) or [p for p, _ in events] != offsets:
        raise ValueError(f"espeak-ng gave {len(events)} word events at characters {[p for p, _ in events]} for "
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

# ---------------------------------------------------------------------------------------------
# A tiny sentence grammar: single clause, no punctuation, so every token is one espeak word event.

_LEXICON: dict[str, tuple[str, ...]] = {
    "D": ("the", "a", "this", "that", "every", "one", "my", "your", "his", "her", "our", "their",
          "another", "each"),
    "A": ("small", "large", "old", "young", "quiet", "noisy", "happy", "tired", "bright", "dark", "green",
          "yellow", "purple", "brown", "silver", "golden", "heavy", "light", "gentle", "angry", "clever",
          "curious", "famous", "strange", "ancient", "modern", "wooden", "broken", "empty", "busy", "lazy",
          "friendly", "careful", "hungry", "sleepy", "shiny", "wet", "dusty", "narrow", "wide", "tall",
          "short", "warm", "cold", "quick", "slow", "brave", "shy", "proud", "simple", "tiny", "round",
          "soft", "loud", "fresh", "sweet", "bitter", "rusty", "lonely", "elegant", "orange", "icy"),
    "N": ("dog", "cat", "horse", "bird", "rabbit", "teacher", "doctor", "farmer", "baker", "sailor",
          "painter", "student", "child", "neighbor", "stranger", "king", "queen", "soldier", "pilot",
          "singer", "driver", "monkey", "tiger", "elephant", "turtle", "fox", "owl", "wolf", "lion",
          "river", "mountain", "garden", "kitchen", "window", "table", "chair", "letter", "book",
          "basket", "bottle", "ladder", "lamp", "bicycle", "train", "boat", "bridge", "castle", "village",
          "forest", "island", "market", "station", "library", "museum", "street", "apple", "orange",
          "sandwich", "blanket", "umbrella", "hammer", "candle", "mirror", "pocket", "guitar", "piano",
          "drum", "kettle", "pillow", "carpet", "engine", "wagon", "feather", "stone", "shell", "flower",
          "tree", "cloud", "storm", "road", "map", "key", "door", "box"),
    "V": ("saw", "found", "carried", "painted", "pushed", "pulled", "watched", "followed", "visited",
          "cleaned", "opened", "closed", "dropped", "lifted", "touched", "fixed", "broke", "bought", "sold",
          "borrowed", "hid", "chased", "helped", "greeted", "remembered", "forgot", "noticed", "admired",
          "washed", "moved", "kicked", "threw", "caught", "dragged", "packed", "counted", "measured",
          "described", "photographed", "ignored", "protected", "questioned", "rescued", "tickled",
          "wrapped", "delivered", "inspected", "repaired", "collected", "discovered"),
    "I": ("slept", "laughed", "smiled", "waited", "danced", "sang", "cried", "jumped", "walked", "ran",
          "arrived", "left", "stayed", "rested", "shouted", "whistled", "listened", "wandered", "paused",
          "trembled", "shivered", "yawned", "stumbled", "hurried", "appeared", "vanished", "returned",
          "sat", "swam", "climbed"),
    "R": ("quickly", "slowly", "quietly", "loudly", "happily", "sadly", "carefully", "gently", "suddenly",
          "eagerly", "calmly", "bravely", "politely", "proudly", "nervously", "silently", "patiently",
          "cheerfully", "softly", "boldly", "lazily", "secretly", "kindly", "warmly", "rarely", "often",
          "finally", "barely", "gladly", "firmly"),
    "P": ("near", "behind", "under", "over", "beside", "inside", "outside", "across", "along", "around",
          "past", "toward", "into", "onto", "beyond", "below", "above", "through", "against", "between"),
    "M": ("anna", "ben", "clara", "daniel", "emma", "felix", "grace", "henry", "isabel", "jack", "karen",
          "leo", "maria", "nathan", "olivia", "peter", "rachel", "samuel", "sophie", "thomas", "victor",
          "william", "zoe", "oliver", "lucy", "martin", "alice", "george", "helen", "james", "julia",
          "kevin", "laura", "michael", "nina", "oscar", "paula", "robert", "sarah", "tony"),
    "T": ("yesterday", "today", "tonight", "later", "again", "once", "twice", "early", "recently", "soon"),
}

# slots are the upper-case letters above; everything else is literal text
_TEMPLATES = (
    "D A N V D N P D N",
    "M R V D A N",
    "D N I R P D A N",
    "M and M V D A N P D N",
    "D A N I P D N because D N V D N",
    "M said D A N V D N P D N",
    "D A A N R V D N T",
    "after D N I M V D A N P D N",
    "M V D A N while D N I R",
    "when D A N I P D N M R V D A N",
    "T M V D N P D A N",
    "D N P D N V D A N R",
    "M and D A N I R P D N",
    "every morning M V D N P D N",
    "M thought D N I P D A N",
    "D A N V D N and D N I",
    "M V D N but D A N I R",
    "T D A N V M P D N",
    "D N I P D N and M I T",
    "M asked if D A N I P D N T",
)


def _fill(template: str, rng: np.random.Generator) -> str:
    words = [str(rng.choice(_LEXICON[t])) if t in _LEXICON else t for t in template.split()]
    # "a" before a vowel reads wrongly; "an" keeps the grammar honest
    words = ["an" if w == "a" and nxt[0] in "aeiou" else w for w, nxt in zip(words, words[1:] + ["x"])]
    return " ".join(words)


def _split_of(sentence: str) -> str:
    """Stable split by text hash (80/10/10), so a sentence belongs to one split whatever the seed."""
    h = int.from_bytes(hashlib.sha1(sentence.encode()).digest()[:4], "big") % 10
    return "train" if h < 8 else ("val" if h == 8 else "test")


def sentences(n: int, seed: int, split: str) -> list[str]:
    """`n` distinct lowercase sentences (6-14 words, letters and spaces) of `split`, deterministic in `seed`."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
    rng = np.random.default_rng([seed, CORPUS_VERSION])
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(200 * n + 1000):  # far more draws than needed: the grammar has millions of sentences
        if len(out) == n:
            break
        s = _fill(_TEMPLATES[rng.integers(len(_TEMPLATES))], rng)
        if s not in seen and _split_of(s) == split:
            seen.add(s)
            out.append(s)
    if len(out) < n:
        raise ValueError(f"could only draw {len(out)} distinct {split} sentences, asked for {n}")
    return out


def corpus_text() -> list[str]:
    """Every lexicon word, plus "an" and each template's literal words: the text a tokenizer must cover."""
    words = sorted({w for ws in _LEXICON.values() for w in ws} | {"an"})
    literal = [" ".join(t for t in tpl.split() if t not in _LEXICON) for tpl in _TEMPLATES]
    return words + [s for s in literal if s]


# ---------------------------------------------------------------------------------------------
# A cached corpus of wav files and JSONL manifests

_DONE = "COMPLETE"  # written last; a folder without it is not a corpus


def build_corpus(out_dir: str | Path, n_train: int, n_val: int, seed: int = 0,
                 voices: tuple[str, ...] = VOICES, tasks: tuple[str, ...] = ("asr", "srwt")) -> Path:
    """Synthesise `n_train` + `n_val` clips into `out_dir/<key>` with `train.jsonl` and `val.jsonl`.

    `key` hashes every argument and CORPUS_VERSION; an existing complete folder is returned as is.
    Each clip yields one manifest line per task; audio paths are relative to the manifest's folder.
    """
    bad = [t for t in tasks if t not in ("asr", "srwt")]
    if bad or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of ('asr', 'srwt'), got {tasks!r}")
    if not voices:
        raise ValueError("voices must name at least one espeak-ng voice")
    spec = {"version": CORPUS_VERSION, "n_train": n_train, "n_val": n_val, "seed": seed,
            "voices": list(voices), "tasks": list(tasks)}
    key = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    out_dir = Path(out_dir)
    final = out_dir / key
    if (final / _DONE).is_file():
        return final

    # build beside the final folder and rename at the end, so a killed build never looks complete
    tmp = out_dir / f".{key}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    (tmp / "wav").mkdir(parents=True)
    try:
        for split_idx, (split, n) in enumerate((("train", n_train), ("val", n_val))):
            rng = np.random.default_rng([seed, split_idx, CORPUS_VERSION])
            with open(tmp / f"{split}.jsonl", "w") as manifest:
                for i, text in enumerate(tqdm(sentences(n, seed, split), desc=f"speech {split}", disable=None)):
                    voice = str(voices[rng.integers(len(voices))])
                    rate, pitch = int(rng.integers(140, 201)), int(rng.integers(30, 71))
                    audio, words = synthesize(text, voice=voice, rate=rate, pitch=pitch)
                    rel = f"wav/{split}-{i:06d}.wav"
                    sf.write(tmp / rel, audio, SAMPLE_RATE, subtype="PCM_16")
                    for task in tasks:
                        manifest.write(json.dumps({
                            "audio": rel, "duration": round(len(audio) / SAMPLE_RATE, 2), "task": task,
                            "text": text, "words": words, "audio_lang": "en", "text_lang": "en",
                            "dataset": DATASET, "speaker": voice}) + "\n")
        (tmp / "spec.json").write_text(json.dumps(spec, indent=1) + "\n")
        (tmp / _DONE).write_text("")
        try:
            tmp.rename(final)
        except OSError:
            # another process finished the same corpus first (or a stale incomplete folder is in the way)
            if not (final / _DONE).is_file():
                shutil.rmtree(final, ignore_errors=True)
                tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
