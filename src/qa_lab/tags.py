"""Task-tag grammar (hierarchical, flat, natural prompts), time tokens and the SRWT word-timestamp format."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

AUDIO_START = "<audio>"
AUDIO_END = "</audio>"

STARTOFTRANSCRIPT = "<|startoftranscript|>"
STARTOFANALYSIS = "<|startofanalysis|>"
TRANSCRIBE, TRANSLATE, CAPTION, KEYWORD = "<|transcribe|>", "<|translate|>", "<|caption|>", "<|keyword|>"
QUESTION, ANSWER = "<|question|>", "<|answer|>"
TIMESTAMPS, NOTIMESTAMPS, SIL = "<|timestamps|>", "<|notimestamps|>", "<|sil|>"

LANGUAGES: tuple[str, ...] = ("en", "zh", "de", "es", "ko", "fr", "ja", "it", "zh_tr", "unknown")
# English names for the natural-language prompt format ("unknown" has none on purpose).
_LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "de": "German", "es": "Spanish", "ko": "Korean",
                   "fr": "French", "ja": "Japanese", "it": "Italian", "zh_tr": "Traditional Chinese"}

MAX_SECONDS = 30.0
_CENTIS = 3000  # 30.00 s in 0.01 s steps
TIME_TOKENS: tuple[str, ...] = tuple(f"<|{k // 100}.{k % 100:02d}|>" for k in range(_CENTIS + 1))
_TIME_INDEX = {tok: k for k, tok in enumerate(TIME_TOKENS)}

# Output instructions (slot 6 of the hierarchy), then the tokens that appear in their outputs.
OUTPUT_INSTRUCTIONS: tuple[str, ...] = (
    "<|wo_itn|>", "<|itn|>", "<|caption_clotho|>", "<|caption_audiocaps|>", "<|caption_plain|>",
    "<|audioset_ontology|>", "<|scene|>", "<|event|>", "<|vocal_classification|>",
    "<|emotion_recognition|>", "<|music_description|>", "<|note_analysis|>", "<|speaker_meta|>",
    "<|song_meta|>", "<|audio_grounding|>", "<|named_entity_recognition|>",
    "<|speech_understanding|>", "<|speech_edit|>", "<|choice|>",
)
_INSTRUCTION_COMPANIONS: tuple[str, ...] = (
    "<|pitch|>", *(f"<|midi_pitch_{i}|>" for i in range(128)),
    "<|velocity|>", *(f"<|midi_velocity_{i}|>" for i in range(128)),
    "<|sonic|>", "<|instrument|>",
    "<|startofword|>", "<|endofword|>", "<|delim|>",
    "<|startofentityvalue|>", "<|endofentityvalue|>", "<|startofentitytype|>", "<|endofentitytype|>",
    "<|scenario|>", "<|action|>", "<|entities|>",
)

FORMATS = ("hierarchical", "flat", "natural")
TASKS: tuple[str, ...] = ("asr", "srwt", "s2tt", "aac", "asc", "vsc", "ser", "note_analysis", "aqa")


@dataclass(frozen=True)
class TaskTags:
    """Hierarchical tags of one task; None where the task has no tag in that slot."""

    transcription: str
    task: str
    timestamps: str | None
    instruction: str | None


HIERARCHY: dict[str, TaskTags] = {
    "asr": TaskTags(STARTOFTRANSCRIPT, TRANSCRIBE, NOTIMESTAMPS, "<|wo_itn|>"),
    "srwt": TaskTags(STARTOFTRANSCRIPT, TRANSCRIBE, TIMESTAMPS, None),
    "s2tt": TaskTags(STARTOFTRANSCRIPT, TRANSLATE, NOTIMESTAMPS, "<|itn|>"),
    "aac": TaskTags(STARTOFANALYSIS, CAPTION, NOTIMESTAMPS, "<|caption_clotho|>"),
    "asc": TaskTags(STARTOFANALYSIS, KEYWORD, NOTIMESTAMPS, "<|scene|>"),
    "vsc": TaskTags(STARTOFANALYSIS, KEYWORD, NOTIMESTAMPS, "<|vocal_classification|>"),
    "ser": TaskTags(STARTOFANALYSIS, KEYWORD, NOTIMESTAMPS, "<|emotion_recognition|>"),
    "note_analysis": TaskTags(STARTOFANALYSIS, KEYWORD, NOTIMESTAMPS, "<|note_analysis|>"),
    "aqa": TaskTags(STARTOFANALYSIS, QUESTION, None, None),  # <|question|>{q}<|answer|>
}

_FLAT_TOKENS = {task: f"<|task_{task}|>" for task in TASKS}

_NATURAL = {
    "asr": "Transcribe the speech.",
    "srwt": "Transcribe the speech with word-level timestamps.",
    "s2tt": "Translate the speech into {text_lang_name}.",
    "aac": "Describe the audio in one sentence.",
    "asc": "Classify the acoustic scene.",
    "vsc": "Which vocal sound is this?",
    "ser": "Which emotion does the speaker express?",
    "note_analysis": "Describe the note: pitch, velocity and instrument.",
}

SPECIAL_TOKENS: tuple[str, ...] = (
    AUDIO_START, AUDIO_END,
    STARTOFTRANSCRIPT, STARTOFANALYSIS,
    *(f"<|{lang}|>" for lang in LANGUAGES),
    TRANSCRIBE, TRANSLATE, CAPTION, KEYWORD, QUESTION, ANSWER,
    TIMESTAMPS, NOTIMESTAMPS, SIL,
    *OUTPUT_INSTRUCTIONS, *_INSTRUCTION_COMPANIONS,
    *_FLAT_TOKENS.values(),
    *TIME_TOKENS,
)

_SPECIAL_RE = re.compile(r"<\|[^|]*\|>")


def _unknown(what: str, value: object, valid: Sequence[str]) -> ValueError:
    """A ValueError naming the bad value, the valid ones and the closest match."""
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}{hint}")


def lang_token(lang: str) -> str:
    """'en' -> '<|en|>'; ValueError for a language outside LANGUAGES."""
    if lang not in LANGUAGES:
        raise _unknown("language", lang, LANGUAGES)
    return f"<|{lang}|>"


def time_token(seconds: float) -> str:
    """Seconds in [0, 30] -> '<|s.cc|>', rounded to the nearest 0.01 s via round(seconds * 100)."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"time {seconds!r} is not a number of seconds") from None
    if not 0.0 <= s <= MAX_SECONDS:  # also rejects NaN
        raise ValueError(f"time {seconds!r} s is outside [0, {MAX_SECONDS:g}] s")
    return TIME_TOKENS[round(s * 100)]


def is_time_token(tok: str) -> bool:
    """True for exactly one of the 3001 TIME_TOKENS."""
    return tok in _TIME_INDEX


def parse_time_token(tok: str) -> float:
    """'<|0.41|>' -> 0.41 (the inverse of time_token on the 0.01 s grid)."""
    if tok not in _TIME_INDEX:
        raise ValueError(f"{tok!r} is not a time token (expected '<|0.00|>' … '<|30.00|>')")
    return round(_TIME_INDEX[tok] / 100, 2)


def prompt(task: str, fmt: str = "hierarchical", audio_lang: str = "en", text_lang: str | None = None,
           question: str | None = None, instruction: str | None = None) -> str:
    """The text between '</audio>' and the output for one task in one tag format.

    text_lang defaults to audio_lang, or to 'en' when audio_lang is 'unknown' (sound, music).
    `question` is required for aqa and refused elsewhere. `instruction` overrides the task's output
    instruction (e.g. '<|caption_audiocaps|>'); only the hierarchical format has that slot, the flat
    and natural formats ignore it.
    """
    if task not in TASKS:
        raise _unknown("task", task, TASKS)
    if fmt not in FORMATS:
        raise _unknown("tag format", fmt, FORMATS)
    audio_tok = lang_token(audio_lang)
    if text_lang is None:
        text_lang = "en" if audio_lang == "unknown" else audio_lang
    text_tok = lang_token(text_lang)
    tags = HIERARCHY[task]
    if task == "aqa":
        if question is None or not question.strip():
            raise ValueError("task 'aqa' needs a non-empty question=")
        if _SPECIAL_RE.search(question):
            raise ValueError(f"aqa question {question!r} contains a special token")
    elif question is not None:
        raise ValueError(f"task {task!r} takes no question (only 'aqa' does); got {question!r}")
    if instruction is not None:
        if tags.instruction is None:
            raise ValueError(f"task {task!r} has no output-instruction slot; got instruction={instruction!r}")
        if instruction not in OUTPUT_INSTRUCTIONS:
            raise _unknown("output instruction", instruction, OUTPUT_INSTRUCTIONS)

    if fmt == "hierarchical":
        if task == "aqa":
            return f"{tags.transcription}{audio_tok}{QUESTION}{question}{ANSWER}"
        return "".join((tags.transcription, audio_tok, tags.task, text_tok, tags.timestamps,
                        instruction or tags.instruction or ""))
    if fmt == "flat":
        if task == "aqa":
            return f"{_FLAT_TOKENS[task]}{question}{ANSWER}"
        return _FLAT_TOKENS[task] + (text_tok if task == "s2tt" else "")
    # natural
    if task == "aqa":
        return question.strip()
    if task == "s2tt":
        if text_lang not in _LANGUAGE_NAMES:
            raise ValueError(f"natural-format s2tt needs a named text_lang ({', '.join(_LANGUAGE_NAMES)}); "
                             f"got {text_lang!r}")
        return _NATURAL[task].format(text_lang_name=_LANGUAGE_NAMES[text_lang])
    return _NATURAL[task]


@dataclass(frozen=True)
class Word:
    """One word and its span in seconds."""

    word: str
    start: float
    end: float


class SrwtFormatError(ValueError):
    """Text that is not a valid '<|t0|>w0<|t1|>w1…<|tN|>' SRWT sequence."""


def _as_word(i: int, w: Word | Mapping) -> Word:
    if isinstance(w, Word):
        return w
    try:
        return Word(w["word"], w["start"], w["end"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"word {i}: expected a Word or a mapping with word/start/end, got {w!r}") from e


def format_srwt(words: Iterable[Word | Mapping]) -> str:
    """Words -> '<|0.00|>mister<|0.41|>quilter<|0.87|>' (N words, N+1 time tokens).

    Times are quantised with time_token; a gap before a word is absorbed into the preceding word,
    whose end becomes the next word's start. Overlapping or decreasing times (on the 0.01 s grid),
    empty words, words containing '<|', or times outside [0, 30] raise ValueError.
    """
    ws = [_as_word(i, w) for i, w in enumerate(words)]
    starts: list[int] = []
    prev_end: int | None = None
    parts: list[str] = []
    for i, w in enumerate(ws):
        if not isinstance(w.word, str):
            raise ValueError(f"word {i}: {w.word!r} is not a string")
        text = w.word.strip()
        if not text:
            raise ValueError(f"word {i}: empty word {w.word!r}")
        if "<|" in text:
            raise ValueError(f"word {i}: {text!r} contains '<|' (special tokens are not words)")
        try:
            s, e = _TIME_INDEX[time_token(w.start)], _TIME_INDEX[time_token(w.end)]
        except ValueError as err:
            raise ValueError(f"word {i} {text!r} (start={w.start!r}, end={w.end!r}): {err}") from None
        if e < s:
            raise ValueError(f"word {i} {text!r}: end {w.end!r} is before start {w.start!r}")
        if prev_end is not None and s < prev_end:
            raise ValueError(f"word {i} {text!r}: start {w.start!r} overlaps word {i - 1} "
                             f"{ws[i - 1].word!r}, which ends at {ws[i - 1].end!r}")
        starts.append(s)
        parts.append(text)
        prev_end = e
    if not ws:
        return ""
    out = [TIME_TOKENS[s] + text for s, text in zip(starts, parts)]
    return "".join(out) + TIME_TOKENS[prev_end]


def parse_srwt(text: str) -> list[Word]:
    """'<|0.00|>mister<|0.41|>quilter<|0.87|>' -> [Word('mister', 0.0, 0.41), Word('quilter', 0.41, 0.87)].

    Special tokens other than time tokens (e.g. '<|en|>') are dropped first; text after the last
    time token is ignored. Raises SrwtFormatError for no time token, text before the first one,
    an empty word between two time tokens, or decreasing times.
    """
    text = _SPECIAL_RE.sub(lambda m: m.group(0) if m.group(0) in _TIME_INDEX else "", text)
    pieces = _SPECIAL_RE.split(text)  # words and junk, between the time tokens
    times = [parse_time_token(tok) for tok in _SPECIAL_RE.findall(text)]
    if not times:
        raise SrwtFormatError(f"no time token in {text!r}")
    if pieces[0].strip():
        raise SrwtFormatError(f"text {pieces[0].strip()!r} before the first time token has no start time")
    words = []
    for i, (start, end) in enumerate(zip(times, times[1:])):
        word = pieces[i + 1].strip()
        if not word:
            raise SrwtFormatError(f"word {i}: empty word between {TIME_TOKENS[round(start * 100)]} "
                                  f"and {TIME_TOKENS[round(end * 100)]}")
        if end < start:
            raise SrwtFormatError(f"word {i} {word!r}: times decrease from {start:.2f} to {end:.2f}")
        words.append(Word(word, start, end))
    return words
