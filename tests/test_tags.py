"""Tag tokens, time tokens, the timed output formats, and the prompts the task registry builds from them."""

import random
import re

import pytest

from qa_lab.prompts.tags import (
    AUDIO_END, AUDIO_START, FORMATS, LANGUAGES, OUTPUT_INSTRUCTIONS, TIME_TOKENS, SrwtFormatError, TaskTags, Word,
    format_srwt, is_time_token, lang_token, parse_srwt, parse_time_token, time_token,
)
from qa_lab.prompts.tasks import REGISTRY, prompt, special_tokens

TASKS = tuple(n for n, t in REGISTRY.items() if t.family != "dialogue")  # a dialogue is its own prompt
HIERARCHY = {name: REGISTRY[name].tags for name in TASKS}
SPECIAL_TOKENS = special_tokens()
ALIASES = {"asr_noise": "asr"}  # tasks that share another task's flat and natural prompt on purpose

# Copied verbatim from MISSION.md ("Prompt prefixes as the official evaluation uses them").
OFFICIAL = [
    (dict(task="asr"),
     "<|startoftranscript|><|en|><|transcribe|><|en|><|notimestamps|><|wo_itn|>"),
    (dict(task="srwt"),
     "<|startoftranscript|><|en|><|transcribe|><|en|><|timestamps|>"),
    (dict(task="s2tt", audio_lang="en", text_lang="de"),
     "<|startoftranscript|><|en|><|translate|><|de|><|notimestamps|><|itn|>"),
    (dict(task="aac", audio_lang="unknown"),
     "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_clotho|>"),
    (dict(task="asc", audio_lang="unknown"),
     "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>"),
    (dict(task="vsc"),
     "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|vocal_classification|>"),
    (dict(task="ser"),
     "<|startofanalysis|><|en|><|keyword|><|en|><|notimestamps|><|emotion_recognition|>"),
    (dict(task="note_analysis", audio_lang="unknown"),
     "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|note_analysis|>"),
    (dict(task="aqa", question="is it raining?"),
     "<|startofanalysis|><|en|><|question|>is it raining?<|answer|>"),
]

# Tokens that only the hierarchical format may emit (language tags are checked separately).
HIERARCHICAL_ONLY = {"<|startoftranscript|>", "<|startofanalysis|>", "<|transcribe|>", "<|translate|>",
                     "<|caption|>", "<|keyword|>", "<|question|>", "<|timestamps|>", "<|notimestamps|>",
                     *OUTPUT_INSTRUCTIONS}
SPECIAL = re.compile(r"<\|[^|]*\|>")


def _kwargs(task: str) -> dict:
    """Arguments that make a valid prompt for every task."""
    kw: dict = {}
    if REGISTRY[task].audio_lang == "unknown":
        kw["audio_lang"] = "unknown"
    if task == "s2tt":
        kw["text_lang"] = "de"
    if task == "aqa":
        kw["question"] = "is it raining?"
    if task == "grounding":
        kw["query"] = "apple"
    return kw


# --- time tokens -------------------------------------------------------------------------------

def test_time_tokens_are_the_3001_centisecond_steps():
    assert len(TIME_TOKENS) == 3001 == len(set(TIME_TOKENS))
    assert TIME_TOKENS[0] == "<|0.00|>"
    assert TIME_TOKENS[41] == "<|0.41|>"
    assert TIME_TOKENS[1234] == "<|12.34|>"
    assert TIME_TOKENS[-1] == "<|30.00|>"


def test_every_time_token_round_trips():
    for k, tok in enumerate(TIME_TOKENS):
        assert is_time_token(tok)
        assert time_token(parse_time_token(tok)) == tok
        assert parse_time_token(time_token(k / 100)) == k / 100  # exact, no float drift
        assert time_token(k / 100) == TIME_TOKENS[k]


def test_time_token_rounds_to_nearest_centisecond():
    # round(seconds * 100): 0.005 * 100 == 0.5 exactly, which Python rounds half to even.
    assert time_token(0.005) == "<|0.00|>"
    assert time_token(0.015) == "<|0.02|>"
    assert time_token(0.0051) == "<|0.01|>"
    assert time_token(0.004) == "<|0.00|>"
    assert time_token(1.006) == "<|1.01|>"
    assert time_token(29.999) == "<|30.00|>"
    assert time_token(0.1 + 0.2) == "<|0.30|>"
    assert time_token(7) == "<|7.00|>"


@pytest.mark.parametrize("bad", [-0.001, -1, 30.001, 31, float("nan"), float("inf")])
def test_time_token_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match=r"outside \[0, 30\]"):
        time_token(bad)


@pytest.mark.parametrize("tok", ["<|30.01|>", "<|0.4|>", "<|00.41|>", "<|-0.01|>", "0.41", "<|en|>", ""])
def test_non_time_tokens(tok):
    assert not is_time_token(tok)
    with pytest.raises(ValueError, match="not a time token"):
        parse_time_token(tok)


# --- languages and prompts ---------------------------------------------------------------------

def test_lang_token():
    assert [lang_token(lang) for lang in LANGUAGES][:2] == ["<|en|>", "<|zh|>"]
    assert lang_token("zh_tr") == "<|zh_tr|>"
    assert lang_token("unknown") == "<|unknown|>"
    with pytest.raises(ValueError, match="zh_tr") as e:
        lang_token("english")
    assert "unknown language 'english'" in str(e.value)


@pytest.mark.parametrize("kwargs,expected", OFFICIAL, ids=[kw["task"] for kw, _ in OFFICIAL])
def test_hierarchical_prompt_matches_official_prefix(kwargs, expected):
    assert prompt(**kwargs) == expected
    assert prompt(fmt="hierarchical", **kwargs) == expected


def test_hierarchy_covers_every_task():
    assert set(HIERARCHY) == set(TASKS)
    assert HIERARCHY["srwt"] == TaskTags("<|startoftranscript|>", "<|transcribe|>", "<|timestamps|>", None)
    with pytest.raises(AttributeError):
        HIERARCHY["asr"].instruction = "<|itn|>"


def test_text_lang_defaults():
    assert prompt("asr", audio_lang="zh") == \
        "<|startoftranscript|><|zh|><|transcribe|><|zh|><|notimestamps|><|wo_itn|>"
    assert prompt("asc", audio_lang="unknown", text_lang="zh") == \
        "<|startofanalysis|><|unknown|><|keyword|><|zh|><|notimestamps|><|scene|>"
    assert prompt("s2tt", audio_lang="zh_tr", text_lang="en") == \
        "<|startoftranscript|><|zh_tr|><|translate|><|en|><|notimestamps|><|itn|>"


def test_instruction_override():
    assert prompt("aac", audio_lang="unknown", instruction="<|caption_audiocaps|>") == \
        "<|startofanalysis|><|unknown|><|caption|><|en|><|notimestamps|><|caption_audiocaps|>"
    assert prompt("asr", instruction="<|itn|>").endswith("<|notimestamps|><|itn|>")
    assert prompt("aac", "flat", instruction="<|caption_audiocaps|>") == "<|task_aac|>"
    with pytest.raises(ValueError, match="caption_audiocaps"):
        prompt("aac", instruction="<|caption_audiocap|>")
    with pytest.raises(ValueError, match="no output-instruction slot"):
        prompt("srwt", instruction="<|wo_itn|>")


def test_prompt_errors_name_valid_choices_and_closest_match():
    with pytest.raises(ValueError, match=r"unknown task 'asrr'.*note_analysis.*did you mean 'asr'"):
        prompt("asrr")
    with pytest.raises(ValueError, match=r"unknown tag format 'hierarchy'.*natural.*mean 'hierarchical'"):
        prompt("asr", fmt="hierarchy")
    with pytest.raises(ValueError, match="unknown language 'english'"):
        prompt("asr", audio_lang="english")
    with pytest.raises(ValueError, match="question"):
        prompt("aqa")
    with pytest.raises(ValueError, match="question"):
        prompt("aqa", question="  ")
    with pytest.raises(ValueError, match="takes no question"):
        prompt("asr", question="what?")
    with pytest.raises(ValueError, match="special token"):
        prompt("aqa", question="is it<|en|> raining?")
    with pytest.raises(ValueError, match="text_lang"):
        prompt("s2tt", "natural", text_lang="unknown")


def test_flat_prompts():
    assert prompt("asr", "flat") == "<|task_asr|>"
    assert prompt("srwt", "flat") == "<|task_srwt|>"
    assert prompt("s2tt", "flat", text_lang="de") == "<|task_s2tt|><|de|>"
    assert prompt("aqa", "flat", question="is it raining?") == "<|task_aqa|>is it raining?<|answer|>"
    flat = {prompt(t, "flat", **_kwargs(t)) for t in TASKS}
    assert len(flat) == len(TASKS) - len(ALIASES)
    assert prompt("asr_noise", "flat") == prompt("asr", "flat")
    assert prompt("grounding", "flat", query="apple") == "<|task_grounding|><|startofword|>apple<|endofword|>"


def test_natural_prompts():
    assert prompt("asr", "natural") == "Transcribe the speech."
    assert prompt("srwt", "natural") == "Transcribe the speech with word-level timestamps."
    assert prompt("s2tt", "natural", text_lang="de") == "Translate the speech into German."
    assert prompt("s2tt", "natural", audio_lang="en", text_lang="zh_tr") == \
        "Translate the speech into Traditional Chinese."
    assert prompt("aac", "natural", audio_lang="unknown") == "Describe the audio in one sentence."
    assert prompt("aqa", "natural", question="is it raining?") == "is it raining?"
    assert prompt("grounding", "natural", query="apple") == 'When is the word "apple" said?'
    natural = [prompt(t, "natural", **_kwargs(t)) for t in TASKS]
    assert len(set(natural)) == len(TASKS) - len(ALIASES)
    for text in natural:
        assert text == text.strip() and text
        assert "<|" not in text


@pytest.mark.parametrize("fmt", ["flat", "natural"])
@pytest.mark.parametrize("task", TASKS)
def test_other_formats_differ_and_carry_no_hierarchical_tags(task, fmt):
    text = prompt(task, fmt, **_kwargs(task))
    assert text != prompt(task, **_kwargs(task))
    tokens = set(SPECIAL.findall(text))
    assert not tokens & HIERARCHICAL_ONLY
    langs = {lang_token(lang) for lang in LANGUAGES}
    assert tokens & langs == ({"<|de|>"} if (task, fmt) == ("s2tt", "flat") else set())


def test_special_tokens_unique_and_complete():
    assert len(SPECIAL_TOKENS) == len(set(SPECIAL_TOKENS))
    assert SPECIAL_TOKENS[:2] == (AUDIO_START, AUDIO_END)
    assert SPECIAL_TOKENS[-3001:] == TIME_TOKENS
    for tok in ("<|sil|>", "<|midi_pitch_0|>", "<|midi_pitch_127|>", "<|midi_velocity_0|>",
                "<|midi_velocity_127|>", "<|pitch|>", "<|velocity|>", "<|sonic|>", "<|instrument|>",
                "<|startofword|>", "<|endofword|>", "<|delim|>", "<|startofentityvalue|>",
                "<|endofentityvalue|>", "<|startofentitytype|>", "<|endofentitytype|>", "<|scenario|>",
                "<|action|>", "<|entities|>", "<|speech_edit|>", "<|choice|>", "<|task_note_analysis|>",
                "<|task_grounding|>", "<|language_id|>"):
        assert tok in SPECIAL_TOKENS
    assert "<|midi_pitch_128|>" not in SPECIAL_TOKENS
    # Every special token emitted by any prompt is a known token.
    special = set(SPECIAL_TOKENS)
    seen = set()
    for task in TASKS:
        for fmt in FORMATS:
            for audio_lang in LANGUAGES:
                text_langs = [lang for lang in LANGUAGES if lang != "unknown"] if task == "s2tt" else [None]
                for text_lang in text_langs:
                    kw = _kwargs(task) | {"audio_lang": audio_lang, "text_lang": text_lang}
                    seen |= set(SPECIAL.findall(prompt(task, fmt, **kw)))
            if HIERARCHY[task].instruction is not None:
                for instr in OUTPUT_INSTRUCTIONS:
                    seen |= set(SPECIAL.findall(prompt(task, fmt, instruction=instr, **_kwargs(task))))
    assert seen <= special, seen - special
    assert "<|answer|>" in seen and "<|task_s2tt|>" in seen and "<|caption_audiocaps|>" in seen


# --- SRWT --------------------------------------------------------------------------------------

MISSION_SRWT = "<|0.00|>mister<|0.41|>quilter<|0.87|>"


def test_srwt_mission_example():
    words = [Word("mister", 0.0, 0.41), Word("quilter", 0.41, 0.87)]
    assert format_srwt(words) == MISSION_SRWT
    assert parse_srwt(MISSION_SRWT) == words
    assert format_srwt([{"word": "mister", "start": 0, "end": 0.41},
                        {"word": "quilter", "start": 0.41, "end": 0.87}]) == MISSION_SRWT
    assert format_srwt([]) == ""


def test_spaced_srwt_parses_the_same_and_its_words_are_the_transcripts_tokens():
    from qa_lab.core.tokenizer import tiny_tokenizer
    from qa_lab.prompts.tasks import target
    words = [Word("felix", 0.0, 0.41), Word("asked", 0.41, 0.87), Word("the", 0.87, 1.0), Word("student", 1.0, 1.6)]
    spaced = format_srwt(words, spaced=True)
    assert spaced == "<|0.00|> felix<|0.41|> asked<|0.87|> the<|1.00|> student<|1.60|>"
    assert parse_srwt(spaced) == parse_srwt(format_srwt(words)) == words
    ex = {"task": "srwt", "words": [{"word": w.word, "start": w.start, "end": w.end} for w in words]}
    assert target(ex) == format_srwt(words) and target(ex, srwt_spaces=True) == spaced
    assert target({"task": "asr", "text": "felix asked"}, srwt_spaces=True) == "felix asked"  # other tasks as they were
    tok = tiny_tokenizer()
    times = set(tok.convert_tokens_to_ids(list(TIME_TOKENS)))
    said = lambda text: [t for t in tok(text, add_special_tokens=False)["input_ids"] if t not in times]  # noqa: E731
    transcript = said(" felix asked the student")  # the words inside a transcript (after its first)
    assert said(spaced) == transcript
    assert said(format_srwt(words)) != transcript  # the paper's spelling tokenises its words apart from transcripts


def test_srwt_round_trip_random_contiguous_words():
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyz'"
    for _ in range(300):
        n = rng.randint(1, 40)
        ks = sorted(rng.choices(range(3001), k=n + 1))  # repeats give zero-length words
        words = [Word("".join(rng.choices(alphabet, k=rng.randint(1, 8))), ks[i] / 100, ks[i + 1] / 100)
                 for i in range(n)]
        text = format_srwt(words)
        assert text.count("<|") == n + 1
        assert parse_srwt(text) == words


def test_srwt_gaps_are_absorbed_into_the_preceding_word():
    words = [Word("mister", 0.12, 0.30), Word("quilter", 0.41, 0.87), Word("is", 1.5, 1.6)]
    assert format_srwt(words) == "<|0.12|>mister<|0.41|>quilter<|1.50|>is<|1.60|>"
    assert parse_srwt(format_srwt(words)) == [Word("mister", 0.12, 0.41), Word("quilter", 0.41, 1.5),
                                              Word("is", 1.5, 1.6)]


def test_srwt_quantises_times():
    assert format_srwt([Word(" mister ", 0.0012, 0.4149)]) == "<|0.00|>mister<|0.41|>"


@pytest.mark.parametrize("words,match", [
    ([Word("a", 0.0, 0.5), Word("b", 0.4, 0.9)], r"word 1 'b': start 0.4 overlaps word 0"),
    ([Word("a", 0.5, 0.4)], r"word 0 'a': end 0.4 is before start 0.5"),
    ([Word("a", 0.0, 0.2), Word("", 0.2, 0.3)], r"word 1: empty word"),
    ([Word("a", 0.0, 0.2), Word("  ", 0.2, 0.3)], r"word 1: empty word"),
    ([Word("a<|en|>", 0.0, 0.2)], r"word 0: 'a<\|en\|>' contains"),
    ([Word("a", 0.0, 0.2), Word("b", 0.2, 30.5)], r"word 1 'b' \(start=0.2, end=30.5\).*outside"),
    ([Word("a", -0.1, 0.2)], r"word 0 'a' \(start=-0.1, end=0.2\).*outside"),
    ([{"word": "a", "start": 0.0}], r"word 0: expected a Word or a mapping"),
])
def test_format_srwt_errors(words, match):
    with pytest.raises(ValueError, match=match):
        format_srwt(words)


def test_parse_srwt_drops_other_special_tokens_and_trailing_text():
    text = "<|startoftranscript|><|en|><|transcribe|><|en|><|timestamps|>" \
           "<|0.00|> mister <|0.41|>quil<|sil|>ter<|0.87|> is the<|endoftext|>"
    assert parse_srwt(text) == [Word("mister", 0.0, 0.41), Word("quilter", 0.41, 0.87)]
    assert parse_srwt("<|0.00|>") == []
    assert parse_srwt("<|1.00|>hello world<|2.00|>") == [Word("hello world", 1.0, 2.0)]


@pytest.mark.parametrize("text,match", [
    ("mister quilter", "no time token"),
    ("<|en|>mister", "no time token"),
    ("<|0.00|>mister<|0.41|><|0.87|>", r"word 1: empty word between <\|0.41\|> and <\|0.87\|>"),
    ("<|0.00|>mister<|0.41|> <|en|> <|0.87|>", r"word 1: empty word"),
    ("<|0.00|>mister<|0.41|>quilter<|0.30|>", r"word 1 'quilter': times decrease from 0.41 to 0.30"),
    ("hello<|0.00|>mister<|0.41|>", "before the first time token"),
])
def test_parse_srwt_errors(text, match):
    with pytest.raises(SrwtFormatError, match=match):
        parse_srwt(text)
    assert issubclass(SrwtFormatError, ValueError)


def test_no_prompt_names_the_answer_of_a_label_task():
    """The world's label lines carry the spoken language as text_lang; the text-language tag is the answer's language
    (English labels), so language ID is never told the language it must name, in any format."""
    from qa_lab.prompts.tasks import prompt_for
    for lang, name in (("de", "german"), ("zh", "chinese"), ("fr", "french")):
        ex = {"task": "lid", "audio": "x.wav", "audio_lang": lang, "text_lang": lang, "label": name}
        for fmt in ("hierarchical", "flat", "natural"):
            assert f"<|{lang}|>" not in prompt_for(ex, fmt) and name not in prompt_for(ex, fmt).lower()
    gender = {"task": "gender", "audio": "x.wav", "audio_lang": "de", "text_lang": "de", "label": "female"}
    assert prompt_for(gender) == "<|startofanalysis|><|de|><|keyword|><|en|><|notimestamps|><|speaker_meta|>"
    s2tt = {"task": "s2tt", "audio": "x.wav", "audio_lang": "de", "text_lang": "fr", "text": "bonjour"}
    assert prompt_for(s2tt) == "<|startoftranscript|><|de|><|translate|><|fr|><|notimestamps|><|itn|>"
    asr = {"task": "asr", "audio": "x.wav", "audio_lang": "de", "text_lang": "de", "text": "hallo"}
    assert prompt_for(asr) == "<|startoftranscript|><|de|><|transcribe|><|de|><|notimestamps|><|wo_itn|>"
