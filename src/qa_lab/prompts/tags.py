"""Tag tokens, time tokens and the timed output formats (SRWT words, grounding spans, events, notes).

Which tags each task uses, and the prompt built from them, live in the task registry (tasks.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from qa_lab.frames import MAX_SECONDS
from qa_lab.errors import unknown

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

_CENTIS = round(MAX_SECONDS * 100)  # time tokens cover the longest clip the encoder takes, in 0.01 s steps
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

FORMATS = ("hierarchical", "flat", "natural", "qwen2-audio", "qwen2-audio-chat")
QWEN2_FORMATS = ("qwen2-audio", "qwen2-audio-chat")  # what released Qwen2-Audio checkpoints read
# Qwen2-Audio's own audio markers: the processor writes <|audio_bos|>, one <|AUDIO|> per pooled frame, <|audio_eos|>.
QWEN2_AUDIO_BOS, QWEN2_AUDIO_TOKEN, QWEN2_AUDIO_EOS = "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"
# ChatML, as Qwen2-Audio-7B-Instruct's chat template writes it (transformers' Qwen2AudioProcessor.default_chat_template):
# dialogues, and qwen2-audio-chat's one-turn prompts, render in qa_lab.prompts.chatml.pieces; answers end with <|im_end|>.
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
CHAT_TOKENS = (IM_START, IM_END)
CHAT_SYSTEM = "You are a helpful assistant."
STARTOFWORD, ENDOFWORD, DELIM = "<|startofword|>", "<|endofword|>", "<|delim|>"
PITCH, VELOCITY, INSTRUMENT, SONIC = "<|pitch|>", "<|velocity|>", "<|instrument|>", "<|sonic|>"


@dataclass(frozen=True)
class TaskTags:
    """Hierarchical tags of one task; None where the task has no tag in that slot."""

    transcription: str
    task: str
    timestamps: str | None
    instruction: str | None


SPECIAL_TOKENS: tuple[str, ...] = (
    AUDIO_START, AUDIO_END,
    STARTOFTRANSCRIPT, STARTOFANALYSIS,
    *(f"<|{lang}|>" for lang in LANGUAGES),
    TRANSCRIBE, TRANSLATE, CAPTION, KEYWORD, QUESTION, ANSWER,
    TIMESTAMPS, NOTIMESTAMPS, SIL,
    *OUTPUT_INSTRUCTIONS, *_INSTRUCTION_COMPANIONS,
    *TIME_TOKENS,
)

# What answers write (SRWT and grounding times, notes, entities): the only tokens the kit adds to a released Qwen2-Audio
# tokenizer, whose prompts are plain text (a tag such as <|en|> added as a new token would change its prompts).
OUTPUT_TOKENS: tuple[str, ...] = (*_INSTRUCTION_COMPANIONS, *TIME_TOKENS)

_SPECIAL_RE = re.compile(r"<\|[^|]*\|>")


def strip_special(text: str) -> str:
    """Text without its special tokens ('<|en|>', time tokens ...), whitespace collapsed: the words said."""
    return " ".join(_SPECIAL_RE.sub(" ", text).split())


def lang_token(lang: str) -> str:
    """'en' -> '<|en|>'; ValueError for a language outside LANGUAGES."""
    if lang not in LANGUAGES:
        raise unknown("language", lang, LANGUAGES)
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


@dataclass(frozen=True)
class Word:
    """One word and its span in seconds."""

    word: str
    start: float
    end: float


class FormatError(ValueError):
    """Output text that does not parse as the expected structure (SRWT words, spans, events, a note)."""


SrwtFormatError = FormatError


def _as_word(i: int, w: Word | Mapping) -> Word:
    if isinstance(w, Word):
        return w
    try:
        return Word(w["word"], w["start"], w["end"])
    except (KeyError, TypeError) as e:
        raise ValueError(f"word {i}: expected a Word or a mapping with word/start/end, got {w!r}") from e


def format_srwt(words: Iterable[Word | Mapping], spaced: bool = False) -> str:
    """Words -> '<|0.00|>mister<|0.41|>quilter<|0.87|>' (N words, N+1 time tokens); spaced=True writes a space
    before each word ('<|0.00|> mister<|0.41|> quilter<|0.87|>', tags.srwt_spaces), which parses the same.

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
    out = [TIME_TOKENS[s] + " " * spaced + text for s, text in zip(starts, parts)]
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


# --- grounding spans, sound events and notes -------------------------------------------------------

def _span(i: int, start: float, end: float, what: str) -> tuple[int, int]:
    try:
        s, e = _TIME_INDEX[time_token(start)], _TIME_INDEX[time_token(end)]
    except ValueError as err:
        raise ValueError(f"{what} {i} (start={start!r}, end={end!r}): {err}") from None
    if e < s:
        raise ValueError(f"{what} {i}: end {end!r} is before start {start!r}")
    return s, e


def format_spans(spans: Iterable[Sequence[float]]) -> str:
    """[(1.2, 1.55), (3.1, 3.4)] -> '<|1.20|><|1.55|><|delim|><|3.10|><|3.40|>' (grounding answers)."""
    out = []
    for i, sp in enumerate(spans):
        s, e = _span(i, sp[0], sp[1], "span")
        out.append(TIME_TOKENS[s] + TIME_TOKENS[e])
    if not out:
        raise ValueError("no spans to format")
    return DELIM.join(out)


def parse_spans(text: str) -> list[tuple[float, float]]:
    """Inverse of format_spans; FormatError unless every piece is exactly two time tokens in order."""
    spans = []
    for piece in text.split(DELIM):
        toks = [t for t in _SPECIAL_RE.findall(piece) if t in _TIME_INDEX]
        if len(toks) != 2 or _SPECIAL_RE.sub("", piece).strip():
            raise FormatError(f"span {piece!r} is not two time tokens")
        s, e = parse_time_token(toks[0]), parse_time_token(toks[1])
        if e < s:
            raise FormatError(f"span {piece!r} ends before it starts")
        spans.append((s, e))
    return spans


def format_events(events: Iterable[Mapping]) -> str:
    """[{"label": "beep", "start": 0.5, "end": 0.8}, …] -> '<|0.50|>beep<|0.80|>…', sorted by (start, end, label).

    Events may overlap; each is its own start token, label, end token."""
    evs = []
    for i, ev in enumerate(events):
        try:
            label, start, end = str(ev["label"]).strip(), ev["start"], ev["end"]
        except (KeyError, TypeError) as e:
            raise ValueError(f"event {i}: expected a mapping with label/start/end, got {ev!r}") from e
        if not label or "<|" in label:
            raise ValueError(f"event {i}: bad label {ev['label']!r}")
        evs.append((*_span(i, start, end, "event"), label))
    return "".join(TIME_TOKENS[s] + label + TIME_TOKENS[e] for s, e, label in sorted(evs))


_EVENT_RE = re.compile(r"(<\|\d+\.\d\d\|>)([^<]+?)(<\|\d+\.\d\d\|>)")


def parse_events(text: str) -> list[dict]:
    """Inverse of format_events (other special tokens dropped); FormatError on leftovers or no event."""
    text = _SPECIAL_RE.sub(lambda m: m.group(0) if m.group(0) in _TIME_INDEX else "", text).strip()
    events, pos = [], 0
    for m in _EVENT_RE.finditer(text):
        if text[pos:m.start()].strip():
            raise FormatError(f"unexpected text {text[pos:m.start()]!r} between events")
        s, e = parse_time_token(m.group(1)), parse_time_token(m.group(3))
        if e < s:
            raise FormatError(f"event {m.group(0)!r} ends before it starts")
        events.append({"label": m.group(2).strip(), "start": s, "end": e})
        pos = m.end()
    if not events or text[pos:].strip():
        raise FormatError(f"not a list of '<|start|>label<|end|>' events: {text!r}")
    return events


def format_note(ex: Mapping) -> str:
    """{"pitch": 60, "velocity": 100, "instrument": "organ", "sonic": [...]} ->
    '<|pitch|><|midi_pitch_60|><|velocity|><|midi_velocity_100|><|instrument|>organ' (+ '<|sonic|>a, b')."""
    p, v, inst = ex["pitch"], ex["velocity"], str(ex["instrument"]).strip()
    for name, x in (("pitch", p), ("velocity", v)):
        if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= 127:
            raise ValueError(f"note {name} must be an integer 0-127, got {x!r}")
    if not inst or "<|" in inst:
        raise ValueError(f"bad instrument {ex['instrument']!r}")
    sonic = ", ".join(ex.get("sonic") or ())
    return (f"{PITCH}<|midi_pitch_{p}|>{VELOCITY}<|midi_velocity_{v}|>{INSTRUMENT}{inst}"
            + (f"{SONIC}{sonic}" if sonic else ""))


_NOTE_RE = re.compile(r"<\|pitch\|><\|midi_pitch_(\d+)\|><\|velocity\|><\|midi_velocity_(\d+)\|>"
                      r"<\|instrument\|>([^<]*)(?:<\|sonic\|>([^<]*))?")


def parse_note(text: str) -> dict:
    """Inverse of format_note; FormatError when the fields are missing or out of order."""
    m = _NOTE_RE.search(text)
    if not m:
        raise FormatError(f"not a note analysis: {text!r}")
    out = {"pitch": int(m.group(1)), "velocity": int(m.group(2)), "instrument": m.group(3).strip()}
    if m.group(4):
        out["sonic"] = [s.strip() for s in m.group(4).split(",") if s.strip()]
    return out
