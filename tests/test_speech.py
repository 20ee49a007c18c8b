"""The offline speech generator: exact word timestamps, determinism, sentence splits, the cached corpus."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from qa_lab import speech
from qa_lab.speech import VOICES, build_corpus, corpus_text, sentences, synthesize

SR = 16_000
TEXT = "the curious elephant carried an orange umbrella across the bridge"


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.mark.parametrize("voice", VOICES)
def test_words_are_the_tokens_contiguous_and_inside_the_audio(voice):
    audio, words = synthesize(TEXT, voice=voice, rate=160, pitch=40)
    duration = len(audio) / SR
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert [w["word"] for w in words] == TEXT.split()
    starts, ends = [w["start"] for w in words], [w["end"] for w in words]
    assert all(a < b for a, b in zip(starts, starts[1:])), starts
    assert ends[:-1] == starts[1:]  # a word owns the pause after it
    assert starts[-1] < ends[-1] <= duration
    assert duration - ends[-1] <= 0.07  # trailing silence trimmed to the 50 ms margin
    assert all(round(t, 2) == t for t in starts + ends)
    assert starts[0] < 0.05


def test_every_word_region_has_speech_in_it():
    audio, words = synthesize(TEXT)
    floor = rms(audio) * 0.05
    for w in words:
        seg = audio[int(w["start"] * SR): int(w["end"] * SR)]
        assert rms(seg) > floor, w


def test_word_starts_sit_on_acoustic_onsets():
    # A voiceless stop (p, t, k) after a vowel begins with a silent closure, so energy must fall right
    # at the word event; timestamps off by more than ~10 ms would put voiced audio in one window.
    ratios = []
    for i, text in enumerate(["the happy painter kicked a tiny kettle", "maria carried a purple ticket today",
                              "you took a cup to the kitchen"]):
        audio, words = synthesize(text, voice=VOICES[i])
        for prev, w in zip(words, words[1:]):
            if w["word"][0] in "ptk" and prev["word"][-1] in "aeiouy":
                t = int(w["start"] * SR)
                before = audio[t - int(0.03 * SR): t - int(0.005 * SR)]
                after = audio[t + int(0.005 * SR): t + int(0.03 * SR)]
                ratios.append(rms(after) / rms(before))
    assert len(ratios) >= 8
    assert np.median(ratios) < 0.2, ratios


def test_longer_words_and_sentences_take_longer():
    short, _ = synthesize("the dog ran home")
    long, _ = synthesize("the dog ran home across the river and over the mountain")
    assert len(long) > 1.5 * len(short)
    _, words = synthesize("a photographed elephant")
    assert words[1]["end"] - words[1]["start"] > 3 * (words[0]["end"] - words[0]["start"])


def test_same_call_gives_identical_bytes_whatever_was_spoken_before():
    # espeak-ng keeps synthesis state between utterances and seeds breath noise from the clock;
    # "+f3" is a breathy variant, so both sources of drift are exercised.
    first = synthesize(TEXT, voice="en-us+f3", rate=150, pitch=60)
    synthesize("something else entirely", voice="en+m3", rate=200)
    time.sleep(1.05)  # espeak seeds its noise from time(NULL): a new second must not change the audio
    again = synthesize(TEXT, voice="en-us+f3", rate=150, pitch=60)
    assert first[0].tobytes() == again[0].tobytes()
    assert first[1] == again[1]


def test_sentences_and_audio_are_the_same_in_a_fresh_process():
    # a fresh interpreter with another string-hash seed and an untouched espeak-ng
    code = ("import hashlib, json; from qa_lab.speech import sentences, synthesize; "
            f"a, w = synthesize({TEXT!r}, voice='en-us+f3'); "
            "print(json.dumps([sentences(20, 0, 'val'), hashlib.sha1(a.tobytes()).hexdigest(), w]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
    val, digest, words = json.loads(out)
    synthesize("warm the engine up with other words", voice="en")
    audio, here = synthesize(TEXT, voice="en-us+f3")
    assert val == sentences(20, 0, "val")
    assert digest == hashlib.sha1(audio.tobytes()).hexdigest() and words == here


def test_voices_and_settings_change_the_audio():
    clips = {v: synthesize(TEXT, voice=v)[0].tobytes() for v in VOICES}
    assert len(set(clips.values())) == len(VOICES)
    assert synthesize(TEXT, pitch=30)[0].tobytes() != synthesize(TEXT, pitch=70)[0].tobytes()
    assert len(synthesize(TEXT, rate=140)[0]) > len(synthesize(TEXT, rate=200)[0])


def test_text_espeak_reads_as_other_words_is_refused():
    with pytest.raises(ValueError, match="the 42 dogs ran home"):
        synthesize("the 42 dogs ran home")
    with pytest.raises(ValueError, match="no voice 'xx-nope'"):
        synthesize("hello", voice="xx-nope")


def test_sentences_are_deterministic_well_formed_and_splits_disjoint():
    train = sentences(300, seed=0, split="train")
    assert train == sentences(300, seed=0, split="train")
    assert train != sentences(300, seed=1, split="train")
    assert len(set(train)) == 300
    for s in train:
        assert re.fullmatch(r"[a-z]+( [a-z]+)*", s), s
        assert 6 <= len(s.split()) <= 14, s
    val, test = set(sentences(100, 0, "val")), set(sentences(100, 0, "test"))
    other_seed_val = set(sentences(100, 7, "val"))
    assert not (set(train) & val) and not (set(train) & test) and not (val & test)
    assert not set(train) & other_seed_val  # the split is a property of the text, not of the seed
    with pytest.raises(ValueError, match="split"):
        sentences(1, 0, "dev")


def test_grammar_sentences_speak_with_one_event_per_word():
    vocab = {w for line in corpus_text() for w in line.split()}
    for i, s in enumerate(sentences(60, seed=3, split="train")):
        assert set(s.split()) <= vocab
        _, words = synthesize(s, voice=VOICES[i % len(VOICES)])  # raises on any event mismatch
        assert len(words) == len(s.split())
    assert len(vocab) > 250


def test_build_corpus_writes_16k_wavs_that_match_the_manifest_and_is_cached(tmp_path, monkeypatch):
    root = build_corpus(tmp_path, n_train=4, n_val=2, seed=0)
    assert root.parent == tmp_path and (root / "COMPLETE").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [root.name]  # no temporary folder left behind
    keys = {"audio", "duration", "task", "text", "words", "audio_lang", "text_lang", "dataset", "speaker"}
    for split, n in (("train", 4), ("val", 2)):
        lines = [json.loads(x) for x in (root / f"{split}.jsonl").read_text().splitlines()]
        assert len(lines) == 2 * n and [x["task"] for x in lines] == ["asr", "srwt"] * n
        for rec in lines:
            assert set(rec) == keys and rec["speaker"] in VOICES and rec["dataset"] == "builtin-speech"
            info = sf.info(str(root / rec["audio"]))
            assert info.samplerate == SR and info.channels == 1 and info.subtype == "PCM_16"
            assert rec["duration"] == round(info.frames / SR, 2)
            assert [w["word"] for w in rec["words"]] == rec["text"].split()
            assert rec["words"][-1]["end"] <= rec["duration"]
    wav = sorted((root / "wav").iterdir())[0]
    mtime = wav.stat().st_mtime_ns

    calls = []
    monkeypatch.setattr(speech, "synthesize", lambda *a, **k: calls.append(a) or synthesize(*a, **k))
    assert build_corpus(tmp_path, n_train=4, n_val=2, seed=0) == root
    assert calls == [] and wav.stat().st_mtime_ns == mtime
    other = build_corpus(tmp_path, n_train=4, n_val=2, seed=1)
    assert other != root and len(calls) == 6


def test_build_corpus_rebuilds_a_folder_left_by_a_killed_build(tmp_path):
    root = build_corpus(tmp_path, n_train=1, n_val=1, tasks=("asr",))
    (root / "COMPLETE").unlink()
    (root / "train.jsonl").write_text("")  # a half-written manifest must not survive
    assert build_corpus(tmp_path, n_train=1, n_val=1, tasks=("asr",)) == root
    assert len((root / "train.jsonl").read_text().splitlines()) == 1
