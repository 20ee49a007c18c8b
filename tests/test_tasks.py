"""The task registry: built-in tasks, registering a new one, targets and the timed output formats."""

import pytest

from qa_lab.core.tokenizer import train_tiny_tokenizer
from qa_lab.prompts import tags, tasks
from qa_lab.prompts.tags import FormatError

# One valid manifest example per built-in task.
EXAMPLES = {
    "asr": {"text": "the dog sleeps"},
    "asr_noise": {"text": "the dog sleeps"},
    "srwt": {"words": [{"word": "the", "start": 0.0, "end": 0.2}, {"word": "dog", "start": 0.2, "end": 0.5}]},
    "s2tt": {"text": "der hund schläft", "text_lang": "de"},
    "lid": {"label": "german", "audio_lang": "de"},
    "speaker_id": {"label": "en-03"},
    "gender": {"label": "female"},
    "speaking_rate": {"label": "fast"},
    "ser": {"label": "joy"},
    "kws": {"label": "dog"},
    "grounding": {"query": "dog", "spans": [[0.2, 0.5], [1.0, 1.31]]},
    "aac": {"text": "a dog barks while rain falls"},
    "asc": {"label": "park"},
    "vsc": {"label": "cough"},
    "event": {"label": "beep"},
    "sed": {"events": [{"label": "knock", "start": 1.2, "end": 1.4}, {"label": "beep", "start": 0.5, "end": 0.8}]},
    "count": {"label": "3"},
    "note_analysis": {"pitch": 60, "velocity": 100, "instrument": "organ"},
    "instrument": {"label": "flute"},
    "tempo": {"label": "slow"},
    "aqa": {"question": "is there a beep?", "answer": "yes"},
}


def test_registry_has_at_least_twenty_tasks_in_every_family():
    # every single-clip task here; dialogue tasks (their conversation is the prompt): tests/test_dialogue.py
    assert set(EXAMPLES) == {n for n, t in tasks.REGISTRY.items() if t.family != "dialogue"}
    assert len(tasks.REGISTRY) >= 20
    for family in tasks.FAMILIES:
        assert tasks.names(family), family


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_task_builds_a_target_and_a_prompt_in_every_format(name):
    ex = {"task": name, **EXAMPLES[name]}
    assert tasks.target(ex)
    for fmt in tags.FORMATS:
        assert tasks.prompt_for(ex, fmt)


def test_targets_parse_back():
    sed = tasks.target({"task": "sed", **EXAMPLES["sed"]})
    assert sed == "<|0.50|>beep<|0.80|><|1.20|>knock<|1.40|>"
    assert tags.parse_events(sed) == [{"label": "beep", "start": 0.5, "end": 0.8},
                                      {"label": "knock", "start": 1.2, "end": 1.4}]
    spans = tasks.target({"task": "grounding", **EXAMPLES["grounding"]})
    assert spans == "<|0.20|><|0.50|><|delim|><|1.00|><|1.31|>"
    assert tags.parse_spans(spans) == [(0.2, 0.5), (1.0, 1.31)]
    note = tasks.target({"task": "note_analysis", **EXAMPLES["note_analysis"]})
    assert note == "<|pitch|><|midi_pitch_60|><|velocity|><|midi_velocity_100|><|instrument|>organ"
    assert tags.parse_note(note) == EXAMPLES["note_analysis"]
    with_sonic = {**EXAMPLES["note_analysis"], "sonic": ["bright", "percussive"]}
    assert tags.parse_note(tags.format_note(with_sonic)) == with_sonic


@pytest.mark.parametrize("parse,text", [
    (tags.parse_events, "beep"), (tags.parse_events, "<|0.50|>beep<|0.80|> trailing"),
    (tags.parse_events, "<|0.80|>beep<|0.50|>"), (tags.parse_spans, "<|0.20|>"),
    (tags.parse_spans, "<|0.50|><|0.20|>"), (tags.parse_spans, "<|0.20|>dog<|0.50|>"),
    (tags.parse_note, "<|pitch|><|midi_pitch_60|>organ"),
])
def test_malformed_outputs_raise_format_error(parse, text):
    with pytest.raises(FormatError):
        parse(text)


def test_prompts_hide_what_the_task_asks():
    # language ID must not reveal the language in the prompt, whatever the manifest says
    assert tasks.prompt_for({"task": "lid", "label": "german", "audio_lang": "de"}) == \
        "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|language_id|>"
    assert tasks.prompt_for({"task": "grounding", **EXAMPLES["grounding"]}) == \
        "<|startofanalysis|><|en|><|keyword|><|en|><|timestamps|><|audio_grounding|><|startofword|>dog<|endofword|>"
    assert tasks.prompt("sed") == "<|startofanalysis|><|unknown|><|keyword|><|en|><|timestamps|><|event|>"
    assert tasks.prompt("event") == "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|event|>"


def test_registering_a_new_task_adds_its_tokens(monkeypatch):
    monkeypatch.setattr(tasks, "REGISTRY", dict(tasks.REGISTRY))
    new = tasks.Task("bird_species", family="sound", natural="Which bird is singing?", audio_lang="unknown",
                     tags=tags.TaskTags(tags.STARTOFANALYSIS, tags.KEYWORD, tags.NOTIMESTAMPS, "<|bird_species|>"))
    assert "<|bird_species|>" not in tasks.special_tokens()
    tasks.register(new)
    tasks.register(new)  # the same definition again is fine
    assert tasks.prompt("bird_species") == \
        "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|bird_species|>"
    assert tasks.prompt("bird_species", "flat") == "<|task_bird_species|>"
    assert tasks.target({"task": "bird_species", "label": "robin"}) == "robin"
    specials = tasks.special_tokens()
    assert {"<|bird_species|>", "<|task_bird_species|>"} <= set(specials)
    assert specials[-3001:] == tags.TIME_TOKENS and len(specials) == len(set(specials))
    tok = train_tiny_tokenizer(["robin sparrow"], vocab_size=300)
    assert tok.convert_tokens_to_ids("<|bird_species|>") != tok.unk_token_id
    assert len(tok.tokenize(tasks.prompt("bird_species"))) == 6
    with pytest.raises(ValueError, match="already registered"):
        tasks.register(tasks.Task("bird_species", "sound", new.tags, "Name the bird."))


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="x y"), "identifier"), (dict(family="noise"), "unknown family.*sound"),
    (dict(metric="wer2"), "unknown metric.*did you mean 'wer'"),
])
def test_bad_task_definitions_are_refused(kwargs, match):
    base = dict(name="t", family="sound", tags=tags.TaskTags(tags.STARTOFANALYSIS, tags.KEYWORD, None, None),
                natural="?")
    with pytest.raises(ValueError, match=match):
        tasks.Task(**(base | kwargs))


def test_unknown_task_suggests_the_closest():
    with pytest.raises(ValueError, match="unknown task 'gendre'.*did you mean 'gender'"):
        tasks.get("gendre")
