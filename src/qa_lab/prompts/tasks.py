"""The task registry: every task's name, family, tags in each format, manifest fields, target text and metric.

Adding a task for your own data is one `register(Task(...))` call before training (see docs/tasks-and-corpora.md):

    from qa_lab.prompts.tags import STARTOFANALYSIS, KEYWORD, NOTIMESTAMPS, TaskTags
    from qa_lab.prompts.tasks import Task, register
    register(Task("bird_species", family="sound", metric="accuracy", fields=("label",),
                  tags=TaskTags(STARTOFANALYSIS, KEYWORD, NOTIMESTAMPS, "<|bird_species|>"),
                  natural="Which bird is singing?", audio_lang="unknown"))

A new output-instruction token (here `<|bird_species|>`) and the task's flat token (`<|task_bird_species|>`)
join the tokenizer's special tokens automatically (`special_tokens()`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from qa_lab.errors import unknown
from qa_lab.example import Example
from qa_lab.prompts import chatml, tags
from qa_lab.prompts.tags import (
    ANSWER, CAPTION, KEYWORD, NOTIMESTAMPS, QUESTION, STARTOFANALYSIS, STARTOFTRANSCRIPT, TIMESTAMPS, TRANSCRIBE,
    TRANSLATE, TaskTags,
)

FAMILIES = ("speech", "sound", "music", "mixed", "dialogue")
# Metric families a task may name: the built-in ones, plus any registered with qa_lab.eval.families.register_family
# (which owns each family's parser, scorer, headline and display names).
METRICS = {"wer", "aas", "bleu", "cider", "accuracy", "count", "iou", "event_f1", "note_fields"}


def _label(ex: Example) -> str:
    return str(ex["label"])


@dataclass(frozen=True)
class Task:
    """One task: how its prompt reads in each tag format, which manifest fields it needs, what it outputs."""

    name: str
    family: str  # speech | sound | music | mixed
    tags: TaskTags  # the hierarchical slots; tags.task == <|question|> means the question form (aqa)
    natural: str  # natural-language instruction; may use {text_lang_name} and {query}
    fields: tuple[str, ...] = ("label",)  # manifest fields the task needs besides audio and task
    metric: str = "accuracy"  # its metric family (METRICS; qa_lab.eval.families): parser, scorer, headline
    target: Callable[[dict], str] = _label  # manifest example -> output text
    query: str | None = None  # manifest field spliced into the prompt: "question" (aqa), "query" (grounding)
    audio_lang: str | None = None  # fixed audio-language tag ("unknown" for sound, music, language ID)
    flat: str | None = None  # flat-format token; default <|task_NAME|> (an alias shares another task's token)
    official: bool = False  # hierarchical tags exactly as the released Qwen-Audio evaluation uses them
    description: str = ""
    max_new_tokens: int = 128  # decoding budget; SRWT doubles a transcript's length with a time token per word
    extra: dict = field(default_factory=dict, compare=False)  # free-form facts, e.g. {"labels": (...)}
    qwen2: str | None = None  # Qwen2-Audio's instruction for the task (tags.format qwen2-audio); None = `natural`.
    # May use {audio_lang} (e.g. en), {text_lang_name} and {query}.

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"task name {self.name!r} must be a Python-identifier-like word (letters, digits, _)")
        if self.family not in FAMILIES:
            raise unknown(f"family of task {self.name!r}", self.family, FAMILIES)
        if self.metric not in METRICS:
            raise unknown(f"metric of task {self.name!r}", self.metric, tuple(sorted(METRICS)))
        if self.max_new_tokens < 1:
            raise ValueError(f"task {self.name!r}: max_new_tokens={self.max_new_tokens}, expected >= 1")
        if self.query not in (None, "question", "query"):
            raise ValueError(f"task {self.name!r}: query must be None, 'question' or 'query', got {self.query!r}")
        if (self.tags.task == QUESTION) != (self.query == "question"):
            raise ValueError(f"task {self.name!r}: the <|question|> task tag and query='question' go together")

    @property
    def flat_token(self) -> str:
        return self.flat or f"<|task_{self.name}|>"


REGISTRY: dict[str, Task] = {}


def register(task: Task, replace: bool = False) -> Task:
    """Add `task` to the registry; re-registering a different task under a taken name needs replace=True."""
    old = REGISTRY.get(task.name)
    if old is not None and old != task and not replace:
        raise ValueError(f"task {task.name!r} is already registered ({old.description or old.family}); "
                         "pass replace=True to redefine it")
    REGISTRY[task.name] = task
    return task


def get(name: str) -> Task:
    """The registered task `name`; ValueError naming the valid ones and the closest match."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise unknown("task", name, tuple(REGISTRY)) from None


def names(family: str | None = None) -> tuple[str, ...]:
    return tuple(n for n, t in REGISTRY.items() if family is None or t.family == family)


def special_tokens() -> tuple[str, ...]:
    """Every tag token: the official ones, then each registered task's new instruction and flat tokens,
    then the 3001 time tokens (so time tokens always sit last)."""
    base = tags.SPECIAL_TOKENS[:-len(tags.TIME_TOKENS)]
    seen = set(base)
    extra = []
    for t in REGISTRY.values():
        for tok in (t.tags.instruction, t.flat_token):
            if tok and tok not in seen:
                seen.add(tok)
                extra.append(tok)
    return (*base, *extra, *tags.TIME_TOKENS)


def prompt(task: str, fmt: str = "hierarchical", audio_lang: str | None = None, text_lang: str | None = None,
           question: str | None = None, instruction: str | None = None, query: str | None = None) -> str:
    """The text between '</audio>' and the output for one task in one tag format.

    audio_lang defaults to the task's fixed tag (e.g. 'unknown' for sound) or 'en'; text_lang to audio_lang,
    or 'en' when that is 'unknown'. `question` (aqa) or `query` (grounding) is required by tasks that take
    one and refused elsewhere. `instruction` overrides the output instruction (e.g. '<|caption_audiocaps|>');
    only the hierarchical format has that slot.
    """
    return _render(get(task), fmt, audio_lang, text_lang, question, instruction, query)


def _render(t: Task, fmt: str, audio_lang: str | None, text_lang: str | None, question: str | None,
            instruction: str | None, query: str | None) -> str:
    task = t.name
    if fmt not in tags.FORMATS:
        raise unknown("tag format", fmt, tags.FORMATS)
    audio_lang = audio_lang or t.audio_lang or "en"
    audio_tok = tags.lang_token(audio_lang)
    if text_lang is None:  # the answer's language: a transcript's is the speech's; labels and answers are English
        text_lang = audio_lang if t.tags.transcription == STARTOFTRANSCRIPT and audio_lang != "unknown" else "en"
    text_tok = tags.lang_token(text_lang)
    given = {"question": question, "query": query}
    for name, value in given.items():
        if value is not None and t.query != name:
            raise ValueError(f"task {task!r} takes no {name} (only {_takers(name)} do); got {value!r}")
    q = given.get(t.query) if t.query else None
    if t.query:
        if q is None or not q.strip():
            raise ValueError(f"task {task!r} needs a non-empty {t.query}=")
        if tags._SPECIAL_RE.search(q):
            raise ValueError(f"{task} {t.query} {q!r} contains a special token")
    if instruction is not None:
        if t.tags.instruction is None:
            raise ValueError(f"task {task!r} has no output-instruction slot; got instruction={instruction!r}")
        if instruction not in tags.OUTPUT_INSTRUCTIONS:
            raise unknown("output instruction", instruction, tags.OUTPUT_INSTRUCTIONS)
    word = f"{tags.STARTOFWORD}{q}{tags.ENDOFWORD}" if t.query == "query" else ""

    if fmt == "hierarchical":
        if t.query == "question":
            return f"{t.tags.transcription}{audio_tok}{QUESTION}{q}{ANSWER}"
        return "".join((t.tags.transcription, audio_tok, t.tags.task, text_tok, t.tags.timestamps or "",
                        instruction or t.tags.instruction or "", word))
    if fmt == "flat":
        if t.query == "question":
            return f"{t.flat_token}{q}{ANSWER}"
        return t.flat_token + (text_tok if t.tags.task == TRANSLATE else "") + word
    # natural, and qwen2-audio (Qwen2-Audio's instructions, plain text: its tokenizer has no tag tokens)
    if t.query == "question":
        return q.strip()
    text = t.qwen2 if fmt in tags.QWEN2_FORMATS and t.qwen2 else t.natural
    if "{text_lang_name}" in text and text_lang not in tags._LANGUAGE_NAMES:
        raise ValueError(f"natural-format {task} needs a named text_lang ({', '.join(tags._LANGUAGE_NAMES)}); "
                         f"got {text_lang!r}")
    return text.format(text_lang_name=tags._LANGUAGE_NAMES.get(text_lang, ""), query=q, audio_lang=audio_lang)


def _takers(name: str) -> str:
    return ", ".join(repr(n) for n, t in REGISTRY.items() if t.query == name) or "no tasks"


def target(ex: Example, srwt_spaces: bool = False) -> str:
    """The output text the model learns for a manifest example; srwt_spaces: an SRWT answer writes a space before
    each word (tags.srwt_spaces)."""
    if srwt_spaces and ex["task"] == "srwt":
        return tags.format_srwt(ex["words"], spaced=True)
    return get(ex["task"]).target(ex)


def transcript(ex: Example) -> str | None:
    """What is said in the clip, when the example knows it: its word list (every world speech clip, SRWT
    manifests) or the text of a transcription task; None otherwise. The target of the auxiliary CTC loss."""
    if ex.get("words"):
        return " ".join(w["word"] for w in ex["words"])
    if ex["task"] in ("asr", "asr_noise") and ex.get("text"):
        return ex["text"]
    return None


def heard(ex: Example) -> str | None:
    """What is heard in the clip, in time order: its words and the names of its sound events (world scene and event
    clips, sed manifests), or the transcript of a transcription task; None when the example knows neither. The
    target of the auxiliary CTC loss: it gives a sound's frames a direct gradient towards its name, as a word's
    frames get towards the word (a chat model that never learned to name sounds answers every question about them
    with one constant: experiments/results/chat-tiny-cpu/)."""
    timed = [(w["start"], w["word"]) for w in ex.get("words") or []]
    timed += [(e["start"], e["label"]) for e in ex.get("events") or []]
    if not timed:
        return transcript(ex)
    return " ".join(text for _, text in sorted(timed, key=lambda t: t[0]))


def prompt_for(ex: Example, fmt: str = "hierarchical") -> str:
    """The tags that follow </audio> for a manifest example, in format `fmt`; for a dialogue, its turns before the
    answer, as text (what eval's predictions show as the prompt)."""
    if "_turns" in ex:
        return chatml.context(ex)
    t = get(ex["task"])
    given = {t.query: ex.get(t.query)} if t.query else {}
    # a manifest's text_lang is the language of a transcript or translation; for any other task the world's lines
    # carry the spoken language there, which as the text-language tag would hand language ID its answer (<|de|>
    # before "german"): the kit's labels and answers are English, so the tag is <|en|>
    text_lang = ex.get("text_lang") if t.tags.transcription == STARTOFTRANSCRIPT else None
    return _render(t, fmt, t.audio_lang or ex.get("audio_lang") or "en", text_lang,
                   given.get("question"), ex.get("instruction"), given.get("query"))


# ---------------------------------------------------------------------------------------------
# Built-in tasks. `official=True`: the hierarchical prompt equals the MISSION / released-evaluation prefix.

def _keyword(instruction: str, timestamps: str = NOTIMESTAMPS) -> TaskTags:
    return TaskTags(STARTOFANALYSIS, KEYWORD, timestamps, instruction)


_text = lambda ex: ex["text"]  # noqa: E731

for _t in (
    # speech
    Task("asr", "speech", TaskTags(STARTOFTRANSCRIPT, TRANSCRIBE, NOTIMESTAMPS, "<|wo_itn|>"),
         "Transcribe the speech.", ("text",), "wer", _text, official=True,
         description="speech recognition (WER; CER for zh)",
         qwen2="Detect the language and recognize the speech: <|{audio_lang}|>"),
    Task("srwt", "speech", TaskTags(STARTOFTRANSCRIPT, TRANSCRIBE, TIMESTAMPS, None),
         "Transcribe the speech with word-level timestamps.", ("words",), "aas",
         lambda ex: tags.format_srwt(ex["words"]), official=True,
         max_new_tokens=256, description="speech recognition with word-level timestamps (AAS)"),
    Task("s2tt", "speech", TaskTags(STARTOFTRANSCRIPT, TRANSLATE, NOTIMESTAMPS, "<|itn|>"),
         "Translate the speech into {text_lang_name}.", ("text", "text_lang"), "bleu", _text, official=True,
         description="speech-to-text translation (BLEU)", qwen2="Translate the speech into {text_lang_name}:"),
    Task("asr_noise", "speech", TaskTags(STARTOFTRANSCRIPT, TRANSCRIBE, NOTIMESTAMPS, "<|wo_itn|>"),
         "Transcribe the speech.", ("text",), "wer", _text, flat="<|task_asr|>", official=True,
         description="ASR on speech mixed with background noise (same prompt as asr)",
         qwen2="Detect the language and recognize the speech: <|{audio_lang}|>"),
    Task("lid", "speech", _keyword("<|language_id|>"), "Which language is spoken?", audio_lang="unknown",
         max_new_tokens=16, description="spoken language identification"),
    Task("speaker_id", "speech", _keyword("<|speaker_id|>"), "Who is speaking?",
         max_new_tokens=16, description="closed-set speaker (voice) identification"),
    Task("gender", "speech", _keyword("<|speaker_meta|>"), "Is the speaker male or female?",
         max_new_tokens=16, description="speaker gender (male / female)"),
    Task("speaking_rate", "speech", _keyword("<|speaking_rate|>"), "Is the speech slow, normal or fast?",
         max_new_tokens=16, description="speaking-rate class (slow / normal / fast)"),
    Task("ser", "speech", _keyword("<|emotion_recognition|>"), "Which emotion does the speaker express?",
         official=True, max_new_tokens=16, description="speech emotion recognition (in the world: a prosody proxy)",
         qwen2="Recognize the emotion with keywords in English:"),
    Task("kws", "speech", _keyword("<|keyword_spotting|>"), "Which keywords are said?",
         description="keyword spotting: the keywords said, in order, or 'none'"),
    Task("grounding", "speech", _keyword("<|audio_grounding|>", TIMESTAMPS), 'When is the word "{query}" said?',
         ("query", "spans"), "iou", lambda ex: tags.format_spans(ex["spans"]), query="query",
         max_new_tokens=32, description="word grounding: the time span(s) of a given word"),
    # sound
    Task("aac", "sound", TaskTags(STARTOFANALYSIS, CAPTION, NOTIMESTAMPS, "<|caption_clotho|>"),
         "Describe the audio in one sentence.", ("text",), "cider", _text, audio_lang="unknown", official=True,
         description="audio captioning (CIDEr-D, SPIDEr)", qwen2="Generate the caption in English:"),
    Task("asc", "sound", _keyword("<|scene|>"), "Classify the acoustic scene.", audio_lang="unknown",
         official=True, max_new_tokens=16, description="acoustic scene classification"),
    Task("vsc", "sound", _keyword("<|vocal_classification|>"), "Which vocal sound is this?", official=True,
         max_new_tokens=16, description="vocal sound classification (laughter, cough …)",
         qwen2="Classify the human vocal sound to VocalSound in English:"),
    Task("event", "sound", _keyword("<|event|>"), "Which sound event is this?", audio_lang="unknown",
         max_new_tokens=16, description="sound event classification (one event per clip)"),
    Task("sed", "sound", _keyword("<|event|>", TIMESTAMPS), "List the sound events with their start and end times.",
         ("events",), "event_f1", lambda ex: tags.format_events(ex["events"]), audio_lang="unknown",
         max_new_tokens=96, description="sound event detection with onset/offset times"),
    Task("count", "sound", _keyword("<|count|>"), "How many sound events are there?", metric="count",
         audio_lang="unknown", max_new_tokens=16, description="count the sound events in the clip"),
    # music
    Task("note_analysis", "music", _keyword("<|note_analysis|>"), "Describe the note: pitch, velocity and instrument.",
         ("pitch", "velocity", "instrument"), "note_fields", lambda ex: tags.format_note(ex), audio_lang="unknown",
         official=True, max_new_tokens=32, description="pitch, velocity and instrument of one note"),
    Task("instrument", "music", _keyword("<|instrument_class|>"), "Which instrument is playing?",
         audio_lang="unknown", max_new_tokens=16, description="instrument classification"),
    Task("tempo", "music", _keyword("<|tempo|>"), "Is the tempo slow, moderate or fast?", audio_lang="unknown",
         max_new_tokens=16, description="tempo class of a phrase (slow / moderate / fast)"),
    # mixed
    Task("aqa", "mixed", TaskTags(STARTOFANALYSIS, QUESTION, None, None), "{query}", ("question", "answer"),
         "accuracy", lambda ex: ex["answer"], query="question", official=True,
         max_new_tokens=64, description="audio question answering (yes/no, choice, open, temporal)"),
):
    register(_t)


def _dialogue_answer(ex: Example) -> str:
    return chatml.answer(ex)


# Dialogues (qa_lab.data.dialogue): the conversation is the prompt, so the task adds no tag token (its flat token is
# aqa's); scored on the last assistant turn.
register(Task("chat", "dialogue", TaskTags(STARTOFANALYSIS, QUESTION, None, None), "{query}", ("messages",),
              "accuracy", _dialogue_answer, query="question", flat="<|task_aqa|>", max_new_tokens=64,
              description="multi-turn dialogue with audio (chat stage): exact match of the last assistant turn"))
# The world's dialogue kinds (qa_lab.world.dialogues), one task each so each question type is scored on its own.
for _name, _what in (("chat_followup", "questions in sequence about one speech clip (which word follows)"),
                     ("chat_scene", "a follow-up about a sound named in the earlier turn ('it')"),
                     ("chat_compare", "which of two or three clips has a sound"),
                     ("chat_speakers", "do two clips' speakers share a language (or gender)"),
                     ("chat_text", "text-only turns: small sums in words")):
    register(Task(_name, "dialogue", TaskTags(STARTOFANALYSIS, QUESTION, None, None), "{query}", ("messages",),
                  "accuracy", _dialogue_answer, query="question", flat="<|task_aqa|>", max_new_tokens=64,
                  description=f"world dialogue: {_what}"))
