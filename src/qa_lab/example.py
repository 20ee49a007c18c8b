"""One example as the kit carries it from a manifest to the dataset, decoding and scoring: no qa_lab imports (a leaf).

An example is the manifest line's JSON object, so a corpus's own fields travel with it (a world clip's speaker and
scene facts, a corpus's ids); `Example` names the fields the kit reads and, in one place, every field the kit adds
itself, which start with `_` (a manifest never sets them; `tests/test_manifest.py` checks that no reader adds one
that is not named here). A TypedDict, so the record stays a plain dict: what is read is what is written back to
predictions and shards.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict


class Example(TypedDict, total=False):
    # --- a clip line: the task, its audio and the task's fields (prompts.tasks.Task.fields says which a task needs)
    task: Required[str]
    audio: str  # the audio file, absolute or relative to the manifest's folder (a shard member: shard.tar#name)
    offset: float  # seconds into the file where the clip starts (default 0)
    duration: float  # the clip's seconds from offset (default: to the file's end)
    text: str  # transcript (asr, asr_noise), translation (s2tt) or caption (aac)
    source_text: str  # s2tt: the spoken sentence
    audio_lang: str  # the spoken language (en, de, ...; "unknown" for sound)
    text_lang: str  # the language the answer is written in
    words: list[dict[str, Any]]  # srwt: [{"word", "start", "end"}] in seconds
    query: str  # grounding: the word or phrase asked for
    spans: list[list[float]]  # grounding: [[start, end]] of the query in seconds
    events: list[dict[str, Any]]  # sed: [{"label", "start", "end"}]
    label: str | int  # a classification task's answer
    question: str  # aqa
    answer: str | int  # aqa
    temporal: bool  # aqa: a question about when (scored apart)
    references: list[str]  # more than one reference text (aac): scored against all
    instruction: str  # a natural-language prompt to use instead of the task's
    instrument: str
    pitch: int
    velocity: int
    # --- a dialogue line (the chat stage: data.dialogue): turns with text and audio parts
    messages: list[dict[str, Any]]
    audios: list[str]  # the audio files the turns point at, in order
    # --- added by the kit when it reads a line (data.manifest.read_manifest, data.dialogue)
    _manifest: str  # the manifest file it was read from
    _line: int  # its line number there (1-based)
    _audio_path: str  # the clip's audio resolved against the manifest's folder
    _duration: float  # the clip's seconds (a dialogue: all its audio's)
    _turns: list[tuple[str, list[tuple[str, Any]]]]  # a dialogue's turns: (role, [("text", s) | ("audio", k)])
    _audio_paths: list[str]  # a dialogue's audio files, resolved, in the order its turns name them
    _durations: list[float]  # their seconds


KIT_FIELDS = tuple(k for k in Example.__annotations__ if k.startswith("_"))
