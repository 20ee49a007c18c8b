"""Offline speech in five languages with exact word timestamps: espeak-ng via ctypes, speakers, grammars."""

from __future__ import annotations

import _ctypes
import ctypes
import hashlib
import os
import re
import threading
from functools import lru_cache

import numpy as np

from qa_lab.config import WORLD_LANGUAGES
from qa_lab.data.audio import SAMPLE_RATE, resample

CORPUS_VERSION = 2  # bump when synthesis, grammar or manifest layout changes: it is part of the cache key

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


LANGUAGES: tuple[str, ...] = WORLD_LANGUAGES  # the languages the world speaks (world.languages)
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


def display_text(text: str, lang: str) -> str:
    """The transcript as written: spoken words joined by spaces, except Chinese, which has none."""
    _check_lang(lang)
    return text.replace(" ", "") if lang == "zh" else text


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {lang!r}")


# ---------------------------------------------------------------------------------------------
# English voices and variants shipped with espeak-ng: US, British, RP and Scottish accents, male and
# female timbres; all give different audio for the same text (tests check it).

VOICES = ("en-us", "en", "en-us+f3", "en+m3", "en-gb-x-rp+f2", "en-gb-scotland+m5")

# ---------------------------------------------------------------------------------------------
# Named speakers: a language voice (accents for en and es) plus a voice variant from espeak-ng-data/voices/!v/
# whose `gender` line gives the gender below (f1, f2, f4, Andrea, steph, anika: female; m3, m7, m8, victor, Andy,
# Marco: male). Variants set pitch range and formants: median F0 measured over sentences is 160-275 Hz for these
# female speakers and 75-130 Hz for the male ones, in every language. anika and Marco are test speakers in every
# language, so test voices are never heard in training, in any language. Every speaker was run at pitch and
# pitch_range 0 and 100 and at rates 80 and 450. Left out:
# - near-duplicates of a chosen variant by long-term spectrum (m1, m2, m4, m5, m6, croak ~ m3; f3, f5 ~ f2;
#   aunty ~ f4; steph2 ~ steph; linda ~ belinda);
# - Annie: under cmn, with pitch <= 20 and pitch_range >= 90, espeak-ng crashes the process (its SetPitch2 drives
#   the base pitch below zero for a pitch range as wide as Annie's 120-280 Hz);
# - klatt* (no gender line: the Klatt synthesiser at the language voice's own pitch), whisper/whisperf (unvoiced),
#   voices with no gender line and effects (robosoft*, Demonic, announcer, zac...);
# - the en-us-nyc accent, which drops the word event of "huge".

_ROSTER = (  # variant, gender, espeak pitch parameter (0-100, within the variant's range), split
    ("m3", "male", 50, "train"), ("f1", "female", 55, "train"), ("victor", "male", 40, "train"),
    ("f2", "female", 60, "train"), ("m7", "male", 45, "train"), ("f4", "female", 50, "train"),
    ("m8", "male", 55, "train"), ("Andrea", "female", 45, "train"), ("Andy", "male", 35, "train"),
    ("steph", "female", 65, "train"), ("Marco", "male", 45, "test"), ("anika", "female", 50, "test"),
)
_ACCENTS = {"en": ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan"),
            "de": ("de",), "fr": ("fr",), "es": ("es", "es-419"), "zh": ("cmn",)}
SPEAKERS: dict[str, dict] = {
    f"{lang}-{i + 1:02d}": {"lang": lang, "voice": f"{accents[i % len(accents)]}+{variant}", "gender": gender,
                            "pitch": pitch, "split": split}
    for lang, accents in _ACCENTS.items() for i, (variant, gender, pitch, split) in enumerate(_ROSTER)}


# The crowd: training-only voices for acoustic variety. A crowd clip draws an accent of its language, one of these
# espeak-ng variants (each with a gender line; never a test variant) and a pitch parameter, all per clip, so no two
# crowd clips need share a voice. It has no speaker name (speaker_id keeps to the named roster). Measured: a CTC
# probe on frozen Whisper tiny.en features trained on 4500 clips, half of them crowd clips, reads the unseen test
# voices at WER 0.667 against 0.729 from the roster alone (experiments/results/listen-diagnosis/). Every variant
# was run in every language and accent at the pitch and pitch-range extremes the world's emotions reach; median
# F0 at pitch 35-65 is 140-310 Hz for the female variants and 75-135 Hz for the male ones (en-us).
CROWD: dict[str, str] = {
    **{v: "female" for v in ("Alicia", "belinda", "f3", "f5", "grandma", "linda", "steph2", "steph3")},
    **{v: "male" for v in ("AnxiousAndy", "Denis", "Diogo", "Henrique", "Hugo", "Lee", "Storm", "antonio", "croak",
                           "m1", "m2", "m4", "m5", "m6", "michel", "miguel", "sandro", "travis")},
}
CROWD_PITCH = (35, 65)  # the pitch parameter's range for crowd clips (espeak-ng 0-100, within the variant's range)


def crowd_voice(rng: np.random.Generator, lang: str) -> dict:
    """A crowd voice for one clip of `lang`: {"voice", "gender", "pitch"}, drawn from `rng`."""
    _check_lang(lang)
    accents, variants = _ACCENTS[lang], tuple(CROWD)
    variant = variants[int(rng.integers(len(variants)))]
    return {"voice": f"{accents[int(rng.integers(len(accents)))]}+{variant}", "gender": CROWD[variant],
            "pitch": int(rng.integers(CROWD_PITCH[0], CROWD_PITCH[1] + 1))}


def speakers(lang: str, split: str) -> tuple[str, ...]:
    """Names of `lang`'s speakers for `split`: "train" and "val" share the training voices, "test" has its own."""
    _check_lang(lang)
    _check_split(split)
    want = "test" if split == "test" else "train"
    return tuple(name for name, s in SPEAKERS.items() if s["lang"] == lang and s["split"] == want)


# ---------------------------------------------------------------------------------------------
# Sampling: words are drawn with Zipf-like weights by their rank in their class (1 / (rank + 3)), so the
# first words of each list are frequent, as in real text, and make good keywords.

def _zipf(n: int) -> np.ndarray:
    w = 1.0 / (np.arange(n) + 3.0)
    return np.cumsum(w / w.sum())


def _draw(rng: np.random.Generator, items, cum: np.ndarray):
    return items[min(int(np.searchsorted(cum, rng.random(), side="right")), len(items) - 1)]


def split_of(key: str) -> str:
    """Stable split of a sentence or combination by hash (80/10/10), whatever the seed: the world's one split rule
    (sentences here, event and note combinations in qa_lab.world.builder)."""
    h = int.from_bytes(hashlib.sha1(key.encode()).digest()[:4], "big") % 10
    return "train" if h < 8 else ("val" if h == 8 else "test")


def _check_split(split: str) -> None:
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")


# ---------------------------------------------------------------------------------------------
# The English grammar: single clause, no punctuation, so every token is one espeak word event.

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
_LEXICON_CUM = {k: _zipf(len(v)) for k, v in _LEXICON.items()}

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
    words = [str(_draw(rng, _LEXICON[t], _LEXICON_CUM[t])) if t in _LEXICON else t for t in template.split()]
    # "a" before a vowel reads wrongly; "an" keeps the grammar honest
    words = ["an" if w == "a" and nxt[0] in "aeiou" else w for w, nxt in zip(words, words[1:] + ["x"])]
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# The parallel grammar: abstract sentences (English lemmas in a small tree) realised in every language.
# Lexicon rules, so that every word is one espeak word event and agreement stays simple:
# - nouns are singular; de nouns decline only through article and adjective (no weak masculines such as
#   junge, bär, pilot); fr nouns start with a consonant other than h (no elision: l', d', qu');
#   es feminine nouns never take "el" (no agua, águila);
# - de: der-words take weak adjective endings, ein-words mixed ones; objects are accusative, places dative
#   (prepositions of place), "in dem" is "im"; subordinate clauses put the verb last;
# - fr: "+" marks adjectives that go before the noun; "de le" is "du"; subordinate subjects and objects
#   of "à côté de" never take "un"/"une" (no "qu'un", "d'un") — the abstract grammar never draws them;
# - es: adjectives follow the noun; animate objects take the personal "a"; "de el"/"a el" are "del"/"al";
#   predicative adjectives say which copula (ser/estar) they use;
# - zh: classifiers per noun (一只 狗, 这本 书); attributive and predicative forms per adjective; place
#   phrases are 在 ... 旁边 frames before the verb; words are tokens joined by spaces.

# kind: a animal, h human, t thing, c container (a thing one can be in), p place one is in, o place one is on
_NOUN_TABLE = """
dog        | hund m          | chien m        | perro m       | 只 狗     | a
cat        | katze f         | chat m         | gato m        | 只 猫     | a
horse      | pferd n         | cheval m       | caballo m     | 匹 马     | a
rabbit     | kaninchen n     | lapin m        | conejo m      | 只 兔子   | a
mouse      | maus f          | souris f       | ratón m       | 只 老鼠   | a
cow        | kuh f           | vache f        | vaca f        | 头 牛     | a
pigeon     | taube f         | pigeon m       | paloma f      | 只 鸽子   | a
duck       | ente f          | canard m       | pato m        | 只 鸭子   | a
fish       | fisch m         | poisson m      | pez m         | 条 鱼     | a
pig        | schwein n       | cochon m       | cerdo m       | 头 猪     | a
sheep      | schaf n         | mouton m       | oveja f       | 只 羊     | a
frog       | frosch m        | grenouille f   | rana f        | 只 青蛙   | a
wolf       | wolf m          | loup m         | lobo m        | 只 狼     | a
fox        | fuchs m         | renard m       | zorro m       | 只 狐狸   | a
snake      | schlange f      | serpent m      | serpiente f   | 条 蛇     | a
tiger      | tiger m         | tigre m        | tigre m       | 只 老虎   | a
goat       | ziege f         | chèvre f       | cabra f       | 只 山羊   | a
hen        | huhn n          | poule f        | gallina f     | 只 母鸡   | a
turtle     | schildkröte f   | tortue f       | tortuga f     | 只 乌龟   | a
butterfly  | schmetterling m | papillon m     | mariposa f    | 只 蝴蝶   | a
camel      | kamel n         | chameau m      | camello m     | 头 骆驼   | a
zebra      | zebra n         | zèbre m        | cebra f       | 匹 斑马   | a
giraffe    | giraffe f       | girafe f       | jirafa f      | 只 长颈鹿 | a
parrot     | papagei m       | perroquet m    | loro m        | 只 鹦鹉   | a
teacher    | lehrer m        | professeur m   | maestro m     | 位 老师   | h
doctor     | arzt m          | médecin m      | médico m      | 位 医生   | h
girl       | mädchen n       | fille f        | niña f        | 个 女孩   | h
aunt       | tante f         | tante f        | tía f         | 个 阿姨   | h
farmer     | landwirt m      | fermier m      | granjero m    | 个 农民   | h
baker      | bäcker m        | boulanger m    | panadero m    | 个 面包师 | h
cook       | koch m          | cuisinier m    | cocinero m    | 个 厨师   | h
king       | könig m         | roi m          | rey m         | 位 国王   | h
queen      | königin f       | reine f        | reina f       | 位 王后   | h
singer     | sänger m        | chanteur m     | cantante m    | 位 歌手   | h
painter    | maler m         | peintre m      | pintor m      | 位 画家   | h
sailor     | seemann m       | marin m        | marinero m    | 个 水手   | h
driver     | fahrer m        | chauffeur m    | conductor m   | 个 司机   | h
dancer     | tänzer m        | danseur m      | bailarín m    | 位 舞蹈家 | h
waiter     | kellner m       | serveur m      | camarero m    | 个 服务员 | h
friend     | freund m        | copain m       | amigo m       | 个 朋友   | h
gardener   | gärtner m       | jardinier m    | jardinero m   | 个 园丁   | h
fisherman  | fischer m       | pêcheur m      | pescador m    | 个 渔夫   | h
musician   | musiker m       | musicien m     | músico m      | 位 音乐家 | h
postman    | briefträger m   | facteur m      | cartero m     | 个 邮递员 | h
captain    | kapitän m       | capitaine m    | capitán m     | 位 船长   | h
thief      | dieb m          | voleur m       | ladrón m      | 个 小偷   | h
judge      | richter m       | juge m         | juez m        | 位 法官   | h
hunter     | jäger m         | chasseur m     | cazador m     | 个 猎人   | h
tailor     | schneider m     | tailleur m     | sastre m      | 个 裁缝   | h
book       | buch n          | livre m        | libro m       | 本 书     | t
ball       | ball m          | ballon m       | pelota f      | 个 球     | t
chair      | stuhl m         | chaise f       | silla f       | 把 椅子   | t
table      | tisch m         | table f        | mesa f        | 张 桌子   | t
lamp       | lampe f         | lampe f        | lámpara f     | 盏 灯     | t
key        | schlüssel m     | clé f          | llave f       | 把 钥匙   | t
letter     | brief m         | lettre f       | carta f       | 封 信     | t
hat        | hut m           | chapeau m      | sombrero m    | 顶 帽子   | t
umbrella   | schirm m        | parapluie m    | paraguas m    | 把 伞     | t
bicycle    | fahrrad n       | vélo m         | bicicleta f   | 辆 自行车 | t
apple      | apfel m         | pomme f        | manzana f     | 个 苹果   | t
cake       | kuchen m        | gâteau m       | pastel m      | 块 蛋糕   | t
bread      | brot n          | pain m         | pan m         | 个 面包   | t
flower     | blume f         | fleur f        | flor f        | 朵 花     | t
stone      | stein m         | pierre f       | piedra f      | 块 石头   | t
guitar     | gitarre f       | guitare f      | guitarra f    | 把 吉他   | t
piano      | klavier n       | piano m        | piano m       | 台 钢琴   | t
drum       | trommel f       | tambour m      | tambor m      | 面 鼓     | t
clock      | uhr f           | pendule f      | reloj m       | 个 钟     | t
mirror     | spiegel m       | miroir m       | espejo m      | 面 镜子   | t
window     | fenster n       | fenêtre f      | ventana f     | 扇 窗户   | t
door       | tür f           | porte f        | puerta f      | 扇 门     | t
bed        | bett n          | lit m          | cama f        | 张 床     | t
cushion    | kissen n        | coussin m      | cojín m       | 个 垫子   | t
candle     | kerze f         | bougie f       | vela f        | 根 蜡烛   | t
map        | karte f         | carte f        | mapa m        | 张 地图   | t
shoe       | schuh m         | chaussure f    | zapato m      | 只 鞋     | t
jacket     | jacke f         | veste f        | chaqueta f    | 件 夹克   | t
newspaper  | zeitung f       | journal m      | periódico m   | 份 报纸   | t
camera     | kamera f        | caméra f       | cámara f      | 台 相机   | t
phone      | telefon n       | téléphone m    | teléfono m    | 部 电话   | t
radio      | radio n         | radio f        | radio f       | 台 收音机 | t
pencil     | bleistift m     | crayon m       | lápiz m       | 支 铅笔   | t
spoon      | löffel m        | cuillère f     | cuchara f     | 把 勺子   | t
knife      | messer n        | couteau m      | cuchillo m    | 把 刀     | t
blanket    | decke f         | couverture f   | manta f       | 条 毯子   | t
carpet     | teppich m       | tapis m        | alfombra f    | 块 地毯   | t
toy        | spielzeug n     | jouet m        | juguete m     | 个 玩具   | t
bell       | glocke f        | cloche f       | campana f     | 个 铃铛   | t
ring       | ring m          | bague f        | anillo m      | 枚 戒指   | t
box        | kiste f         | boîte f        | caja f        | 个 盒子   | c
basket     | korb m          | panier m       | cesta f       | 个 篮子   | c
bag        | tasche f        | sac m          | bolsa f       | 个 包     | c
suitcase   | koffer m        | valise f       | maleta f      | 个 箱子   | c
car        | auto n          | voiture f      | coche m       | 辆 汽车   | c
boat       | boot n          | bateau m       | barco m       | 条 船     | c
train      | zug m           | train m        | tren m        | 列 火车   | c
cup        | tasse f         | tasse f        | taza f        | 个 杯子   | c
bottle     | flasche f       | bouteille f    | botella f     | 个 瓶子   | c
bowl       | schüssel f      | bol m          | cuenco m      | 个 碗     | c
house      | haus n          | maison f       | casa f        | 座 房子   | p
garden     | garten m        | jardin m       | jardín m      | 个 花园   | p
kitchen    | küche f         | cuisine f      | cocina f      | 间 厨房   | p
river      | fluss m         | rivière f      | río m         | 条 河     | p
forest     | wald m          | forêt f        | bosque m      | 片 森林   | p
market     | markt m         | marché m       | mercado m     | 个 市场   | p
station    | bahnhof m       | gare f         | estación f    | 个 车站   | p
castle     | schloss n       | château m      | castillo m    | 座 城堡   | p
library    | bibliothek f    | bibliothèque f | biblioteca f  | 个 图书馆 | p
museum     | museum n        | musée m        | museo m       | 个 博物馆 | p
park       | park m          | parc m         | parque m      | 个 公园   | p
lake       | see m           | lac m          | lago m        | 个 湖     | p
village    | dorf n          | village m      | pueblo m      | 个 村子   | p
tower      | turm m          | tour f         | torre f       | 座 塔     | p
barn       | scheune f       | grange f       | granero m     | 个 谷仓   | p
tent       | zelt n          | tente f        | carpa f       | 顶 帐篷   | p
shop       | laden m         | magasin m      | tienda f      | 家 商店   | p
harbor     | hafen m         | port m         | puerto m      | 个 港口   | p
cave       | höhle f         | grotte f       | cueva f       | 个 山洞   | p
well       | brunnen m       | puits m        | pozo m        | 口 井     | p
pond       | teich m         | mare f         | estanque m    | 个 池塘   | p
restaurant | restaurant n    | restaurant m   | restaurante m | 家 饭店   | p
bridge     | brücke f        | pont m         | puente m      | 座 桥     | o
mountain   | berg m          | montagne f     | montaña f     | 座 山     | o
wall       | mauer f         | mur m          | muro m        | 面 墙     | o
hill       | hügel m         | colline f      | colina f      | 座 山丘   | o
roof       | dach n          | toit m         | tejado m      | 个 屋顶   | o
"""

# de stem (endings added) | fr masculine/feminine, "+" = before the noun | es masculine/feminine copula |
# zh attributive/predicative | kinds of noun it describes
_ADJECTIVE_TABLE = """
small     | klein      | +petit/petite            | pequeño/pequeña ser         | 小/很 小           | ahtcpo
big       | groß       | +grand/grande            | grande/grande ser           | 大/很 大           | ahtcpo
old       | alt        | +vieux/vieille           | viejo/vieja ser             | 老/很 老           | ahtcpo
beautiful | schön      | +beau/belle              | bonito/bonita ser           | 漂亮 的/很 漂亮    | ahtcpo
new       | neu        | +nouveau/nouvelle        | nuevo/nueva ser             | 新/很 新           | tcpo
young     | jung       | +jeune/jeune             | joven/joven ser             | 年轻 的/很 年轻    | ah
good      | gut        | +bon/bonne               | bueno/buena ser             | 好/很 好           | ah
long      | lang       | +long/longue             | largo/larga ser             | 长/很 长           | tcp
fat       | dick       | +gros/grosse             | gordo/gorda ser             | 胖/很 胖           | ah
red       | rot        | rouge/rouge              | rojo/roja ser               | 红色 的/是 红色 的 | tcpo
green     | grün       | vert/verte               | verde/verde ser             | 绿色 的/是 绿色 的 | atcpo
blue      | blau       | bleu/bleue               | azul/azul ser               | 蓝色 的/是 蓝色 的 | tcpo
yellow    | gelb       | jaune/jaune              | amarillo/amarilla ser       | 黄色 的/是 黄色 的 | atcpo
white     | weiß       | blanc/blanche            | blanco/blanca ser           | 白色 的/是 白色 的 | atcpo
black     | schwarz    | noir/noire               | negro/negra ser             | 黑色 的/是 黑色 的 | atcpo
brown     | braun      | marron/marron            | marrón/marrón ser           | 棕色 的/是 棕色 的 | atcpo
gray      | grau       | gris/grise               | gris/gris ser               | 灰色 的/是 灰色 的 | atcpo
golden    | golden     | doré/dorée               | dorado/dorada ser           | 金色 的/是 金色 的 | tc
quiet     | ruhig      | calme/calme              | tranquilo/tranquila estar   | 安静 的/很 安静    | ahp
loud      | laut       | bruyant/bruyante         | ruidoso/ruidosa ser         | 吵闹 的/很 吵闹    | ahp
happy     | glücklich  | heureux/heureuse         | feliz/feliz estar           | 开心 的/很 开心    | ah
sad       | traurig    | triste/triste            | triste/triste estar         | 伤心 的/很 伤心    | ah
tired     | müde       | fatigué/fatiguée         | cansado/cansada estar       | 疲倦 的/很 累      | ah
hungry    | hungrig    | affamé/affamée           | hambriento/hambrienta estar | 饥饿 的/很 饿      | ah
angry     | wütend     | fâché/fâchée             | enfadado/enfadada estar     | 生气 的/很 生气    | ah
clever    | klug       | intelligent/intelligente | listo/lista ser             | 聪明 的/很 聪明    | ah
brave     | mutig      | courageux/courageuse     | valiente/valiente ser       | 勇敢 的/很 勇敢    | ah
friendly  | freundlich | gentil/gentille          | amable/amable ser           | 友好 的/很 友好    | ah
lazy      | faul       | paresseux/paresseuse     | perezoso/perezosa ser       | 懒惰 的/很 懒      | ah
strong    | stark      | fort/forte               | fuerte/fuerte ser           | 强壮 的/很 强壮    | ah
curious   | neugierig  | curieux/curieuse         | curioso/curiosa ser         | 好奇 的/很 好奇    | ah
shy       | schüchtern | timide/timide            | tímido/tímida ser           | 害羞 的/很 害羞    | ah
proud     | stolz      | fier/fière               | orgulloso/orgullosa estar   | 骄傲 的/很 骄傲    | ah
thin      | dünn       | mince/mince              | delgado/delgada ser         | 瘦/很 瘦           | ah
famous    | berühmt    | célèbre/célèbre          | famoso/famosa ser           | 有名 的/很 有名    | ahpo
strange   | seltsam    | étrange/étrange          | extraño/extraña ser         | 奇怪 的/很 奇怪    | ahtcpo
huge      | riesig     | énorme/énorme            | enorme/enorme ser           | 巨大 的/很 巨大    | ahtcpo
heavy     | schwer     | lourd/lourde             | pesado/pesada ser           | 沉重 的/很 重      | tc
broken    | kaputt     | cassé/cassée             | roto/rota estar             | 坏 的/坏 了        | tc
empty     | leer       | vide/vide                | vacío/vacía estar           | 空/是 空 的        | cp
clean     | sauber     | propre/propre            | limpio/limpia estar         | 干净 的/很 干净    | atcp
dirty     | schmutzig  | sale/sale                | sucio/sucia estar           | 脏/很 脏           | atcp
warm      | warm       | chaud/chaude             | caliente/caliente estar     | 温暖 的/很 暖和    | tcp
cold      | kalt       | froid/froide             | frío/fría estar             | 冰冷 的/很 冷      | tcp
round     | rund       | rond/ronde               | redondo/redonda ser         | 圆/是 圆 的        | tc
soft      | weich      | doux/douce               | suave/suave ser             | 柔软 的/很 软      | atc
bright    | hell       | clair/claire             | claro/clara ser             | 明亮 的/很 亮      | tcp
short     | kurz       | court/courte             | corto/corta ser             | 短/很 短           | tc
wide      | breit      | large/large              | ancho/ancha ser             | 宽阔 的/很 宽      | po
deep      | tief       | profond/profonde         | profundo/profunda ser       | 深/很 深           | p
"""

# intransitive verbs, 3rd person singular present | kinds of noun they take as subject
_INTRANSITIVE_TABLE = """
sleeps   | schläft  | dort      | duerme   | 睡觉    | ah
sings    | singt    | chante    | canta    | 唱歌    | ah
plays    | spielt   | joue      | juega    | 玩耍    | ah
waits    | wartet   | attend    | espera   | 等着    | ah
runs     | rennt    | court     | corre    | 跑步    | ah
dances   | tanzt    | danse     | baila    | 跳舞    | ah
eats     | isst     | mange     | come     | 吃饭    | ah
works    | arbeitet | travaille | trabaja  | 工作    | h
laughs   | lacht    | rit       | ríe      | 笑      | h
rests    | ruht     | se repose | descansa | 休息    | ah
swims    | schwimmt | nage      | nada     | 游泳    | ah
cries    | weint    | pleure    | llora    | 哭      | h
jumps    | springt  | saute     | salta    | 跳      | ah
smiles   | lächelt  | sourit    | sonríe   | 微笑    | h
dreams   | träumt   | rêve      | sueña    | 做梦    | ah
shouts   | schreit  | crie      | grita    | 大喊    | h
whistles | pfeift   | siffle    | silba    | 吹 口哨 | h
reads    | liest    | lit       | lee      | 看书    | h
writes   | schreibt | écrit     | escribe  | 写字    | h
"""

# transitive verbs | kinds of noun they take as object | as subject
_TRANSITIVE_TABLE = """
sees    | sieht      | voit    | ve        | 看见 | ahtcpo | ah
finds   | findet     | trouve  | encuentra | 找到 | ahtc   | ah
carries | trägt      | porte   | lleva     | 拿着 | tc     | h
watches | beobachtet | regarde | mira      | 看着 | ahtcpo | ah
loves   | liebt      | aime    | ama       | 爱   | ah     | ah
paints  | malt       | peint   | pinta     | 画   | ahtcpo | h
follows | verfolgt   | suit    | sigue     | 跟着 | ah     | ah
buys    | kauft      | achète  | compra    | 买   | tc     | h
washes  | wäscht     | lave    | lava      | 洗   | atc    | h
opens   | öffnet     | ouvre   | abre      | 打开 | c      | h
sells   | verkauft   | vend    | vende     | 卖   | tc     | h
brings  | bringt     | apporte | trae      | 带来 | tc     | ah
throws  | wirft      | lance   | lanza     | 扔   | t      | h
catches | fängt      | attrape | atrapa    | 抓住 | at     | ah
visits  | besucht    | visite  | visita    | 参观 | po     | h
hears   | hört       | entend  | oye       | 听见 | ah     | ah
calls   | ruft       | appelle | llama     | 叫   | ah     | h
feeds   | füttert    | nourrit | alimenta  | 喂   | a      | h
pushes  | schiebt    | pousse  | empuja    | 推   | tc     | ah
repairs | repariert  | répare  | repara    | 修理 | tc     | h
hides   | versteckt  | cache   | esconde   | 藏   | tc     | ah
forgets | vergisst   | oublie  | olvida    | 忘记 | tc     | h
touches | berührt    | touche  | toca      | 摸   | atc    | ah
cleans  | putzt      | nettoie | limpia    | 打扫 | p      | h
"""

# verbs of saying and thinking: "X says that <clause>" (subjects are people)
_SAY_TABLE = """
says   | sagt  | dit   | dice   | 说
thinks | denkt | pense | piensa | 觉得
knows  | weiß  | sait  | sabe   | 知道
"""

# prepositions of place and company; zh is a frame around the noun phrase | kinds of noun they take
_PREPOSITION_TABLE = """
next to     | neben  | à côté de | junto a    | 在 … 旁边 | ahtcpo
behind      | hinter | derrière  | detrás de  | 在 … 后面 | ahtcpo
in front of | vor    | devant    | delante de | 在 … 前面 | ahtcpo
under       | unter  | sous      | debajo de  | 在 … 下面 | tco
on          | auf    | sur       | sobre      | 在 … 上面 | tco
in          | in     | dans      | en         | 在 … 里   | cp
with        | mit    | avec      | con        | 和 … 一起 | ah
"""

# adverbs: time (at the end of the clause; de: after the finite verb; zh: after the subject) and manner
_TIME_TABLE = """
now           | jetzt        | maintenant   | ahora       | 现在
tonight       | heute abend  | ce soir      | esta noche  | 今晚
every day     | jeden tag    | chaque jour  | cada día    | 每天
every morning | jeden morgen | chaque matin | cada mañana | 每天 早上
on sunday     | am sonntag   | dimanche     | el domingo  | 星期天
in winter     | im winter    | en hiver     | en invierno | 冬天
"""

_MANNER_TABLE = """
quietly   | leise      | doucement   | en silencio | 安静 地
slowly    | langsam    | lentement   | despacio    | 慢慢 地
happily   | fröhlich   | joyeusement | alegremente | 开心 地
loudly    | laut       | fort        | fuerte      | 大声 地
quickly   | schnell    | vite        | rápido      | 飞快 地
carefully | vorsichtig | prudemment  | con cuidado | 小心 地
"""

# the words that join clauses: "because", "while", "that"; zh wraps the clause it introduces
_LINKS = {
    "because": {"en": "because", "de": "weil", "fr": "car", "es": "porque", "zh": "因为 … 所以"},
    "while": {"en": "while", "de": "während", "fr": "pendant que", "es": "mientras", "zh": "当 … 的 时候"},
    "that": {"en": "that", "de": "dass", "fr": "que", "es": "que", "zh": ""},
}


def _table(text: str) -> dict[str, list[str]]:
    rows = [[f.strip() for f in line.split("|")] for line in text.strip().splitlines()]
    return {r[0]: r for r in rows}


_NOUNS = _table(_NOUN_TABLE)
_ADJECTIVES = _table(_ADJECTIVE_TABLE)
_INTRANSITIVE = _table(_INTRANSITIVE_TABLE)
_TRANSITIVE = _table(_TRANSITIVE_TABLE)
_SAY = _table(_SAY_TABLE)
_PREPOSITIONS = _table(_PREPOSITION_TABLE)
_TIMES = _table(_TIME_TABLE)
_MANNERS = _table(_MANNER_TABLE)
_COL = {"en": 0, "de": 1, "fr": 2, "es": 3, "zh": 4}
_KIND_OF = {en: row[5] for en, row in _NOUNS.items()}
_DETERMINERS = ("the", "a", "this", "my", "your")
_DEFINITE = ("the", "this", "my", "your")  # never "a": French would elide "de un", "que un"
_DET_CUM = np.cumsum([0.45, 0.25, 0.1, 0.1, 0.1])
_DEF_CUM = np.cumsum([0.6, 0.14, 0.13, 0.13])


@lru_cache(maxsize=None)
def _nouns_of(kinds: str) -> tuple[tuple[str, ...], np.ndarray]:
    """The nouns of `kinds`, weighted by rank within their own kind (so each kind has its frequent words)."""
    rank = {n: i for kind in kinds for i, n in enumerate(n for n in _NOUNS if _KIND_OF[n] == kind)}
    pool = tuple(n for n in _NOUNS if n in rank)
    w = np.array([1.0 / (rank[n] + 3.0) for n in pool])
    return pool, np.cumsum(w / w.sum())


@lru_cache(maxsize=None)
def _adjectives_for(kind: str) -> tuple[tuple[str, ...], np.ndarray]:
    pool = tuple(a for a, row in _ADJECTIVES.items() if kind in row[5])
    return pool, _zipf(len(pool))


def _pool(table: dict[str, list[str]]) -> tuple[tuple[str, ...], np.ndarray]:
    return tuple(table), _zipf(len(table))


_POOLS = {name: _pool(t) for name, t in (("vi", _INTRANSITIVE), ("vt", _TRANSITIVE), ("say", _SAY),
                                          ("prep", _PREPOSITIONS), ("time", _TIMES), ("manner", _MANNERS))}


# --- drawing abstract sentences. A noun phrase is (det, adj or "", noun); a clause is
# (subject, verb, object or None, time or "", manner or "", (prep, np) or None).

def _draw_np(rng: np.random.Generator, kinds: str, definite: bool = False, det: str = "") -> tuple:
    noun = _draw(rng, *_nouns_of(kinds))
    det = det or (_draw(rng, _DEFINITE, _DEF_CUM) if definite else _draw(rng, _DETERMINERS, _DET_CUM))
    adj = _draw(rng, *_adjectives_for(_KIND_OF[noun])) if rng.random() < 0.45 else ""
    return (det, adj, noun)


def _draw_pp(rng: np.random.Generator, exclude: tuple[str, ...] = ()) -> tuple:
    prep = _draw(rng, *_POOLS["prep"])
    while prep in exclude:
        prep = _draw(rng, *_POOLS["prep"])
    return (prep, _draw_np(rng, _PREPOSITIONS[prep][5], definite=prep == "next to"))


def _draw_clause(rng: np.random.Generator, definite_subject: bool = False) -> tuple:
    if rng.random() < 0.55:
        verb = _draw(rng, *_POOLS["vt"])
        subj = _draw_np(rng, _TRANSITIVE[verb][6], definite=definite_subject)
        obj = _draw_np(rng, _TRANSITIVE[verb][5])
        manner = ""
    else:
        verb, obj = _draw(rng, *_POOLS["vi"]), None
        subj = _draw_np(rng, _INTRANSITIVE[verb][5], definite=definite_subject)
        manner = _draw(rng, *_POOLS["manner"]) if rng.random() < 0.25 else ""
    time = _draw(rng, *_POOLS["time"]) if rng.random() < 0.25 else ""
    pp = _draw_pp(rng) if rng.random() < 0.5 else None
    return (subj, verb, obj, time, manner, pp)


def _draw_sentence(rng: np.random.Generator) -> tuple:
    u = rng.random()
    if u < 0.45:
        return ("clause", _draw_clause(rng))
    if u < 0.57:
        return ("because", _draw_clause(rng), _draw_clause(rng, definite_subject=True))
    if u < 0.67:
        return ("while", _draw_clause(rng), _draw_clause(rng, definite_subject=True))
    if u < 0.77:
        return ("that", _draw_np(rng, "h"), _draw(rng, *_POOLS["say"]), _draw_clause(rng, definite_subject=True))
    if u < 0.9:
        np_ = _draw_np(rng, "ahtcpo", definite=True)
        np_ = (np_[0], "", np_[2])
        return ("is", np_, _draw(rng, *_adjectives_for(_KIND_OF[np_[2]])))
    return ("there", _draw_np(rng, "ahtc", det="a"), _draw_pp(rng, exclude=("with",)))


# --- realisation, one set of functions per language. Each returns a list of words.

def _en_np(np_: tuple) -> list[str]:
    det, adj, noun = np_
    words = [det] + ([adj] if adj else []) + [noun]
    if det == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    return words


def _en_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    out = _en_np(subj) + [verb] + (_en_np(obj) if obj else []) + manner.split()
    if pp:
        out += pp[0].split() + _en_np(pp[1])
    return out + time.split()


_DE_DER = {"m": ("der", "den", "dem"), "f": ("die", "die", "der"), "n": ("das", "das", "dem")}  # nom, acc, dat
_DE_DIES = {"m": ("er", "en", "em"), "f": ("e", "e", "er"), "n": ("es", "es", "em")}
_DE_EIN = {"m": ("", "en", "em"), "f": ("e", "e", "er"), "n": ("", "", "em")}
_DE_WEAK = {"m": ("e", "en", "en"), "f": ("e", "e", "en"), "n": ("e", "e", "en")}  # after der, dies-
_DE_MIXED = {"m": ("er", "en", "en"), "f": ("e", "e", "en"), "n": ("es", "es", "en")}  # after ein, mein, dein
_DE_EIN_WORDS = {"a": "ein", "my": "mein", "your": "dein"}


def _de_ending(stem: str, ending: str) -> str:
    return stem + (ending[1:] if stem.endswith("e") and ending else ending)  # müde + e -> müde


def _de_np(np_: tuple, case: int) -> list[str]:
    det, adj, noun = np_
    word, g = _NOUNS[noun][1].split()
    if det == "the":
        d, endings = _DE_DER[g][case], _DE_WEAK
    elif det == "this":
        d, endings = "dies" + _DE_DIES[g][case], _DE_WEAK
    else:
        d, endings = _DE_EIN_WORDS[det] + _DE_EIN[g][case], _DE_MIXED
    return [d] + ([_de_ending(_ADJECTIVES[adj][1], endings[g][case])] if adj else []) + [word]


def _de_pp(pp: tuple) -> list[str]:
    prep, np_ = pp
    words = [_PREPOSITIONS[prep][1]] + _de_np(np_, 2)  # place: dative
    if words[:2] == ["in", "dem"]:
        words[:2] = ["im"]
    return words


def _de_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    verb_de = (_TRANSITIVE if obj else _INTRANSITIVE)[verb][1]
    middle = (_TIMES[time][1].split() if time else []) + (_de_np(obj, 1) if obj else []) + \
        (_MANNERS[manner][1].split() if manner else []) + (_de_pp(pp) if pp else [])
    return _de_np(subj, 0) + (middle + [verb_de] if sub else [verb_de] + middle)


_FR_DET = {"the": ("le", "la"), "a": ("un", "une"), "this": ("ce", "cette"), "my": ("mon", "ma"),
           "your": ("ton", "ta")}


def _fr_adj(adj: str, g: str) -> tuple[str, bool]:
    forms = _ADJECTIVES[adj][2]
    before = forms.startswith("+")
    m, f = forms.lstrip("+").split("/")
    return (f if g == "f" else m), before


def _fr_np(np_: tuple) -> list[str]:
    det, adj, noun = np_
    word, g = _NOUNS[noun][2].split()
    d = _FR_DET[det][g == "f"]
    if not adj:
        return [d, word]
    a, before = _fr_adj(adj, g)
    return [d, a, word] if before else [d, word, a]


def _fr_pp(pp: tuple) -> list[str]:
    words = _PREPOSITIONS[pp[0]][2].split() + _fr_np(pp[1])
    for i in range(len(words) - 1):
        if words[i] == "de" and words[i + 1] == "le":
            words[i:i + 2] = ["du"]
            break
    return words


def _fr_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    out = _fr_np(subj) + (_TRANSITIVE if obj else _INTRANSITIVE)[verb][2].split()
    out += (_fr_np(obj) if obj else []) + (_MANNERS[manner][2].split() if manner else [])
    return out + (_fr_pp(pp) if pp else []) + (_TIMES[time][2].split() if time else [])


_ES_DET = {"the": ("el", "la"), "a": ("un", "una"), "this": ("este", "esta"), "my": ("mi", "mi"),
           "your": ("tu", "tu")}


def _es_np(np_: tuple) -> list[str]:
    det, adj, noun = np_
    word, g = _NOUNS[noun][3].split()
    out = [_ES_DET[det][g == "f"], word]
    if adj:
        m, f = _ADJECTIVES[adj][3].split()[0].split("/")
        out.append(f if g == "f" else m)
    return out


def _es_after(prep: list[str], np_words: list[str]) -> list[str]:
    if prep and prep[-1] in ("de", "a") and np_words[0] == "el":
        return prep[:-1] + [{"de": "del", "a": "al"}[prep[-1]]] + np_words[1:]
    return prep + np_words


def _es_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    out = _es_np(subj) + (_TRANSITIVE if obj else _INTRANSITIVE)[verb][3].split()
    if obj:  # the personal "a" before animals and people
        out += _es_after(["a"] if _KIND_OF[obj[2]] in "ah" else [], _es_np(obj))
    out += _MANNERS[manner][3].split() if manner else []
    out += _es_after(_PREPOSITIONS[pp[0]][3].split(), _es_np(pp[1])) if pp else []
    return out + (_TIMES[time][3].split() if time else [])


def _zh_np(np_: tuple) -> list[str]:
    det, adj, noun = np_
    classifier, word = _NOUNS[noun][4].split()
    out = {"the": [], "a": ["一" + classifier], "this": ["这" + classifier], "my": ["我的"], "your": ["你的"]}[det]
    if adj:
        attr = "旧" if adj == "old" and _KIND_OF[noun] in "tc" else _ADJECTIVES[adj][4].split("/")[0]
        out += attr.split()
    return out + [word]


def _zh_frame(frame: str, inner: list[str]) -> list[str]:
    before, after = frame.split("…")
    return before.split() + inner + after.split()


def _zh_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    out = _zh_np(subj) + (_TIMES[time][4].split() if time else [])
    out += _zh_frame(_PREPOSITIONS[pp[0]][4], _zh_np(pp[1])) if pp else []
    out += _MANNERS[manner][4].split() if manner else []
    return out + (_TRANSITIVE if obj else _INTRANSITIVE)[verb][4].split() + (_zh_np(obj) if obj else [])


_CLAUSE = {"en": _en_clause, "de": _de_clause, "fr": _fr_clause, "es": _es_clause, "zh": _zh_clause}


def _realize(s: tuple, lang: str) -> str:
    """The abstract sentence `s` spoken in `lang`: lowercase words joined by single spaces."""
    kind, col, clause = s[0], _COL[lang], _CLAUSE[lang]
    if kind == "clause":
        words = clause(s[1])
    elif kind in ("because", "while"):
        link = _LINKS[kind][lang]
        words = _zh_frame(link, clause(s[2])) + clause(s[1]) if lang == "zh" else \
            clause(s[1]) + link.split() + clause(s[2], sub=True)
    elif kind == "that":
        subj = _de_np(s[1], 0) if lang == "de" else {"en": _en_np, "fr": _fr_np, "es": _es_np, "zh": _zh_np}[lang](s[1])
        words = subj + [_SAY[s[2]][col]] + _LINKS["that"][lang].split() + clause(s[3], sub=True)
    elif kind == "is":
        np_, adj = s[1], s[2]
        forms = _ADJECTIVES[adj][col]
        if lang == "en":
            words = _en_np(np_) + ["is", adj]
        elif lang == "de":
            words = _de_np(np_, 0) + ["ist", forms]
        elif lang == "fr":
            words = _fr_np(np_) + ["est", _fr_adj(adj, _NOUNS[np_[2]][2].split()[1])[0]]
        elif lang == "es":
            (m, f), copula = forms.split()[0].split("/"), forms.split()[1]
            g = _NOUNS[np_[2]][3].split()[1]
            words = _es_np(np_) + [{"ser": "es", "estar": "está"}[copula], f if g == "f" else m]
        else:
            pred = "很 旧" if adj == "old" and _KIND_OF[np_[2]] in "tc" else forms.split("/")[1]
            words = _zh_np(np_) + pred.split()
    else:  # "there": there is <np> <pp>
        np_, pp = s[1], s[2]
        if lang == "en":
            words = ["there", "is"] + _en_np(np_) + pp[0].split() + _en_np(pp[1])
        elif lang == "de":
            words = _de_pp(pp) + ["ist"] + _de_np(np_, 0)
        elif lang == "fr":
            words = ["il", "y", "a"] + _fr_np(np_) + _fr_pp(pp)
        elif lang == "es":
            words = ["hay"] + _es_np(np_) + _es_after(_PREPOSITIONS[pp[0]][3].split(), _es_np(pp[1]))
        else:  # 房子 旁边 有 一只 狗: the place phrase without 在
            words = _zh_frame(_PREPOSITIONS[pp[0]][4], _zh_np(pp[1]))[1:] + ["有"] + _zh_np(np_)
    return " ".join(words)


def _abstract_sentences(n: int, seed: int, split: str, stream: int) -> list[tuple]:
    """`n` distinct abstract sentences of `split` (by hash of the abstract sentence), deterministic in `seed`."""
    _check_split(split)
    rng = np.random.default_rng([seed, CORPUS_VERSION, stream])
    out: list[tuple] = []
    seen: set[str] = set()
    for _ in range(200 * n + 1000):
        if len(out) == n:
            break
        s = _draw_sentence(rng)
        key = repr(s)
        if key in seen or not 5 <= len(_realize(s, "en").split()) <= 22:
            continue
        seen.add(key)
        if split_of(key) == split:
            out.append(s)
    if len(out) < n:
        raise ValueError(f"could only draw {len(out)} distinct {split} sentences, asked for {n}")
    return out


def sentences(n: int, seed: int, split: str, lang: str = "en") -> list[str]:
    """`n` distinct lowercase sentences in `lang` of `split`, deterministic in `seed`; no punctuation or digits.

    English comes from its own grammar (6-14 words, split by text hash); the other languages from the
    parallel grammar (split by the abstract sentence, as in `parallel_sentences`). A test sentence is
    never a train or val sentence, whatever the seeds.
    """
    _check_lang(lang)
    _check_split(split)
    if lang != "en":
        return [_realize(s, lang) for s in _abstract_sentences(n, seed, split, stream=1 + _COL[lang])]
    rng = np.random.default_rng([seed, CORPUS_VERSION])
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(200 * n + 1000):  # far more draws than needed: the grammar has millions of sentences
        if len(out) == n:
            break
        s = _fill(_TEMPLATES[rng.integers(len(_TEMPLATES))], rng)
        if s not in seen and split_of(s) == split:
            seen.add(s)
            out.append(s)
    if len(out) < n:
        raise ValueError(f"could only draw {len(out)} distinct {split} sentences, asked for {n}")
    return out


def parallel_sentences(n: int, seed: int, split: str, src: str, tgt: str) -> list[tuple[str, str]]:
    """`n` (src, tgt) translation pairs of `split`, deterministic in `seed`.

    One abstract sentence stream serves every language pair, so for one seed the pairs of (en, de) and
    (en, fr) share their English side. The split is a property of the abstract sentence, so neither side of
    a test pair occurs in train or val.
    """
    _check_lang(src)
    _check_lang(tgt)
    return [(_realize(s, src), _realize(s, tgt)) for s in _abstract_sentences(n, seed, split, stream=0)]


@lru_cache(maxsize=None)
def _parallel_vocab(lang: str) -> frozenset[str]:
    """Every word the parallel grammar can say in `lang`: all forms of every lexicon entry and function word."""
    col = _COL[lang]
    words: set[str] = set()
    for noun in _NOUNS:  # every determiner, adjective and case with each noun
        for det in _DETERMINERS:
            for adj in ("",) + _adjectives_for(_KIND_OF[noun])[0]:
                np_ = (det, adj, noun)
                if lang == "en":
                    words.update(_en_np(np_))
                elif lang == "de":
                    for case in range(3):
                        words.update(_de_np(np_, case))
                elif lang == "fr":
                    words.update(_fr_np(np_))
                elif lang == "es":
                    words.update(_es_np(np_))
                else:
                    words.update(_zh_np(np_))
    for table in (_INTRANSITIVE, _TRANSITIVE, _SAY, _PREPOSITIONS, _TIMES, _MANNERS):
        for row in table.values():
            words.update(row[col].replace("…", " ").split())
    for adj, row in _ADJECTIVES.items():  # predicative forms
        forms = row[col]
        if lang in ("en", "de"):
            words.add(forms)
        elif lang == "fr":
            words.update(forms.lstrip("+").split("/"))
        elif lang == "es":
            words.update(forms.split()[0].split("/") + [{"ser": "es", "estar": "está"}[forms.split()[1]]])
        else:
            words.update(forms.split("/")[1].split() + ["旧"])
    for link in _LINKS.values():
        words.update(link[lang].replace("…", " ").split())
    words.update({"en": ["is", "there"], "de": ["ist", "im"], "fr": ["est", "il", "y", "a", "du"],
                  "es": ["hay", "a", "al", "del"], "zh": ["有"]}[lang])
    return frozenset(words)


def corpus_text(langs: tuple[str, ...] = LANGUAGES) -> list[str]:
    """Every word the grammars can produce in `langs` (sorted): the text a tokenizer must cover."""
    words: set[str] = set()
    for lang in langs:
        _check_lang(lang)
        words |= _parallel_vocab(lang)
        if lang == "en":
            words |= {w for ws in _LEXICON.values() for w in ws} | {"an"}
            words |= {t for tpl in _TEMPLATES for t in tpl.split() if t not in _LEXICON}
    return sorted(words)


# Keywords for keyword spotting: frequent content words, each in 6-20 % of a language's sentences. The same
# concepts in de/fr/es/zh, whose nouns and verbs keep one form in these grammars (a keyword is a token as spoken);
# en has its own grammar and its own frequent words.
_KEYWORD_NOUNS = ("teacher", "doctor", "girl", "dog", "aunt", "cat", "farmer")
_KEYWORD_VERBS = ("sees", "finds", "sleeps")


def _keywords(lang: str) -> tuple[str, ...]:
    col = _COL[lang]
    nouns = tuple(_NOUNS[n][col].split()[1 if lang == "zh" else 0] for n in _KEYWORD_NOUNS)
    return nouns + tuple({**_TRANSITIVE, **_INTRANSITIVE}[v][col] for v in _KEYWORD_VERBS)


KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("dog", "cat", "horse", "bird", "rabbit", "teacher", "doctor", "small", "slept", "saw"),
    **{lang: _keywords(lang) for lang in LANGUAGES[1:]},
}
