"""The built-in audio world: determinism, exact ground truth, unseen test material, every task valid."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qa_lab.cli import main
from qa_lab.config import WorldConfig
from qa_lab.data.manifest import read_manifest
from qa_lab.prompts import tags, tasks
from qa_lab.world import speech, builder as world


def _cfg(out, **kw) -> WorldConfig:
    return WorldConfig(out=str(out), **({"n_train": 6, "n_val": 2, "n_test": 4, "workers": 1} | kw))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return world.build_world(_cfg(tmp_path_factory.mktemp("world")), seed=0, progress=False)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow  # builds a world twice
def test_two_builds_are_byte_identical_whatever_the_worker_count(built, tmp_path):
    again = world.build_world(_cfg(tmp_path, workers=2), seed=0, progress=False)
    assert again.name == built.name
    assert _digest(again) == _digest(built)
    other_seed = world.build_world(_cfg(tmp_path), seed=1, progress=False)
    assert _digest(other_seed) != _digest(built)


def test_build_is_cached_and_keyed_by_config(built):
    cfg = _cfg(built.parent)
    assert world.build_world(cfg, seed=0) == built  # no rebuild: COMPLETE marker found
    assert world.world_dir(_cfg(built.parent, n_train=7), 0) != built
    assert world.world_dir(_cfg(built.parent, languages=["en"]), 0) != built


def test_every_world_task_is_made_and_every_line_is_valid(built):  # dialogues: tests/test_dialogue.py
    lines = {s: world.read_split(built, s) for s in world.SPLITS}
    made = {ex["task"] for ex in lines["train"]}
    assert made == set(world.CLIP_TASKS) and len(made) >= 20
    assert {ex["task"] for ex in lines["test"]} == set(world.CLIP_TASKS)
    for split in world.SPLITS:
        exs = read_manifest(built / f"{split}.jsonl")  # validates every field and time against the clip
        assert len(exs) == len(lines[split])


def test_targets_parse_back_to_the_ground_truth(built):
    for ex in world.read_split(built, "train"):
        text = tasks.target(ex)
        if ex["task"] == "srwt":
            assert [w.word for w in tags.parse_srwt(text)] == [w["word"] for w in ex["words"]]
            assert [w.start for w in tags.parse_srwt(text)] == [w["start"] for w in ex["words"]]
        elif ex["task"] == "sed":
            assert tags.parse_events(text) == sorted(ex["events"], key=lambda e: (e["start"], e["end"], e["label"]))
        elif ex["task"] == "grounding":
            assert tags.parse_spans(text) == [tuple(s) for s in ex["spans"]]
            assert all(w["word"] == ex["query"] for w in ex["words"] if [w["start"], w["end"]] in ex["spans"])
        elif ex["task"] == "note_analysis":
            assert tags.parse_note(text) == {k: ex[k] for k in ("pitch", "velocity", "instrument")}
        elif ex["task"] == "count":
            assert text == str(len(ex["events"]))


def test_word_times_and_audio_equal_the_engine(built):
    ex = next(e for e in world.read_split(built, "train") if e["task"] == "srwt")
    audio, words = speech.synthesize(" ".join(w["word"] for w in ex["words"]), **ex["espeak"])
    assert words == ex["words"]
    stored, sr = sf.read(built / ex["audio"], dtype="float32")
    assert sr == 16000 and len(stored) == len(audio)
    assert np.abs(stored - audio).max() < 1 / 32768 + 1e-6  # 16-bit quantisation only


def test_test_split_uses_unseen_speakers_sentences_and_combinations(built):
    def facts(split, task):
        return [e for e in world.read_split(built, split) if e["task"] == task]
    train_text = {e["text"] for t in ("asr", "asr_noise") for e in facts("train", t)}
    test_text = {e["text"] for t in ("asr", "asr_noise") for e in facts("test", t)}
    assert test_text and not test_text & train_text
    train_speakers = {e["speaker"] for e in facts("train", "asr")}
    assert {e["speaker"] for e in facts("test", "asr")}.isdisjoint(train_speakers)
    # speaker ID is closed-set: its test clips keep training speakers, with new sentences
    assert {e["label"] for e in facts("test", "speaker_id")} <= set(speech.SPEAKERS)
    combo = lambda e: e["scene"] + "|" + ",".join(sorted(x["label"] for x in e["events"]))  # noqa: E731
    assert not {combo(e) for e in facts("test", "asc")} & {combo(e) for e in facts("train", "asc")}
    note = lambda e: (e["instrument"], e["pitch"])  # noqa: E731
    assert not {note(e) for e in facts("test", "note_analysis")} & {note(e) for e in facts("train", "note_analysis")}


def test_languages_and_translation(built):
    asr = [e for e in world.read_split(built, "train") if e["task"] == "asr"]
    assert len({e["audio_lang"] for e in asr}) >= 3
    zh = [e for e in asr if e["audio_lang"] == "zh"]
    assert all(" " not in e["text"] for e in zh)
    for e in (e for e in world.read_split(built, "train") if e["task"] == "s2tt"):
        assert e["audio_lang"] != e["text_lang"] and e["text"] and e["source_text"]


def test_task_subset_builds_only_what_is_needed(tmp_path):
    root = world.build_world(_cfg(tmp_path, languages=["en"]), seed=0, tasks=["asr", "srwt"], progress=False)
    exs = world.read_split(root, "train")
    assert {e["task"] for e in exs} == {"asr", "srwt"}
    assert {e["generator"] for e in exs} == {"speech"}
    with pytest.raises(ValueError, match="does not make task.*'vsc'"):
        world.generators_for(["asr", "vsc"])


def test_cli_world_build_and_show(tmp_path, capsys):
    args = [f"world.out={tmp_path}", "world.n_train=1", "world.n_val=1", "world.n_test=1", "world.workers=1",
            "world.languages=[en]", "world.tasks=[asr,event]"]
    with pytest.raises(SystemExit) as e:
        main(["world", "show", *args])
    assert e.value.code == 2 and "not built yet" in capsys.readouterr().err
    main(["world", "build", *args])
    out = capsys.readouterr().out
    assert "asr" in out and "event" in out and "total" in out
    main(["world", "show", *args])
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("event"))
    assert row.split()[1:5] == ["sound", "1", "1", "1"]


def test_plot_examples_draws_one_row_per_example(built):
    from qa_lab.study.plots import plot_examples
    exs = [next(world.iter_examples(built, "train", [t])) for t in ("srwt", "sed", "note_analysis")]
    fig = plot_examples(exs)
    assert len(fig.axes) == 3
    assert fig.axes[0].get_title(loc="left").startswith("srwt: <|")


def test_summary_counts_lines_and_hours(built):
    rows = {r["task"]: r for r in world.summary(built)}
    train = world.read_split(built, "train")
    assert rows["asc"]["train"] == sum(e["task"] == "asc" for e in train)
    assert rows["aqa"]["family"] == "mixed"
    assert "total" in world.format_summary(list(rows.values()))
    json.dumps(list(rows.values()))


def test_an_interrupted_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path, languages=["en"])

    def crash(*a, **k):
        raise RuntimeError("killed")
    monkeypatch.setattr(world, "_make", crash)
    with pytest.raises(RuntimeError, match="killed"):
        world.build_world(cfg, seed=0, tasks=["asr"], progress=False)
    assert not world.world_dir(cfg, 0, ["asr"]).exists() and not list(tmp_path.iterdir())
    monkeypatch.undo()
    root = world.build_world(cfg, seed=0, tasks=["asr"], progress=False)  # a stale incomplete folder is replaced too
    (root / "COMPLETE").unlink()
    (root / "train.jsonl").write_text("")
    assert world.build_world(cfg, seed=0, tasks=["asr"], progress=False) == root
    assert world.read_split(root, "train")


def test_crowd_voices_vary_training_and_leave_the_test_split_untouched(built, tmp_path):
    kw = {"tasks": ["asr", "gender", "speaker_id"]}
    crowd = world.build_world(_cfg(tmp_path, crowd=1.0, **kw), seed=0, progress=False)
    named = world.build_world(_cfg(tmp_path, crowd=0.0, **kw), seed=0, progress=False)
    train = world.read_split(crowd, "train")
    asr = [e for e in train if e["task"] == "asr"]
    assert asr and all(e["speaker"] is None for e in asr)  # a crowd clip has no speaker name...
    assert not [e for e in train if e["task"] == "speaker_id"]  # ...so it serves no speaker_id line
    variants = {e["espeak"]["voice"].split("+")[1] for e in asr}
    assert variants <= set(speech.CROWD) and len(variants) > 1
    assert all(e["gender"] == speech.CROWD[e["espeak"]["voice"].split("+")[1]] for e in asr)
    assert all(e["speaker"] in speech.SPEAKERS for e in world.read_split(named, "train") if e["task"] == "asr")
    test_files = lambda root: {k: v for k, v in _digest(root).items() if k.startswith(("wav/test", "test."))}  # noqa: E731
    assert test_files(crowd) == test_files(named) and test_files(crowd)
    test_variants = {SPEAKER["voice"].split("+")[1] for SPEAKER in speech.SPEAKERS.values() if SPEAKER["split"] == "test"}
    assert not test_variants & set(speech.CROWD)


def test_crowd_share_outside_0_to_1_names_the_key():
    from qa_lab.config import ConfigError
    with pytest.raises(ConfigError, match="world.crowd"):
        WorldConfig(crowd=1.5)


def test_the_tiny_tokenizers_corpus_file_is_the_worlds_text():
    """core reads the tiny tokenizers' training text from a file (no world code in the model layer); when the world's
    grammar changes, this says so, and regenerating the file is a deliberate tokenizer change (old tiny checkpoints'
    token ids move)."""
    from qa_lab.core.tokenizer import TINY_CORPUS, tiny_corpus
    from qa_lab.world.builder import corpus_text
    assert tiny_corpus() == corpus_text(), (
        f"{TINY_CORPUS} differs from the world's text; if the change is meant, regenerate it: .venv/bin/python -c "
        "\"from qa_lab.core.tokenizer import TINY_CORPUS; from qa_lab.world.builder import corpus_text; "
        "TINY_CORPUS.write_text(''.join(t + chr(10) for t in corpus_text()), encoding='utf-8')\"")
