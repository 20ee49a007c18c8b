import json

import numpy as np
import pytest
import soundfile as sf

from qa_lab.data.manifest import ManifestError, read_manifest
from qa_lab.prompts.tasks import prompt_for as prompt_text
from qa_lab.prompts.tasks import target as target_text


def _write(tmp_path, lines):
    p = tmp_path / "m.jsonl"
    p.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n")
    return p


@pytest.fixture
def clips(tmp_path):
    sf.write(tmp_path / "ok.wav", 0.1 * np.ones(16000, dtype=np.float32), 16000)
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 16000)
    (tmp_path / "corrupt.wav").write_bytes(b"not audio at all" * 8)
    sf.write(tmp_path / "long.wav", np.zeros(16000 * 31, dtype=np.float32), 16000)
    return tmp_path


GOOD = {"audio": "ok.wav", "task": "asr", "text": "hello world"}


@pytest.mark.parametrize("bad, message", [
    ({"audio": "missing.wav", "task": "asr", "text": "x"}, "audio file not found"),
    ({"audio": "empty.wav", "task": "asr", "text": "x"}, "empty audio"),
    ({"audio": "corrupt.wav", "task": "asr", "text": "x"}, "cannot decode audio"),
    ({"audio": "long.wav", "task": "asr", "text": "x"}, "31.00 s long"),
    ({"audio": "ok.wav", "task": "dance", "text": "x"}, "unknown task 'dance'"),
    ({"audio": "ok.wav", "task": "asr"}, "task 'asr' needs field\\(s\\) 'text'"),
    ({"audio": "ok.wav", "task": "srwt", "words": [{"word": "a", "start": 0.5, "end": 0.2}]}, "bad 'words'"),
    ("{not json", "not valid JSON"),
    ({**GOOD, "offset": -1}, "'offset' must be >= 0"),
    ({**GOOD, "duration": -1}, "'duration' must be > 0"),
    ({**GOOD, "duration": 0}, "'duration' must be > 0"),
    ({**GOOD, "offset": "0.5"}, "'offset' must be a number"),
    ({**GOOD, "duration": float("nan")}, "'duration' must be a number"),
    ({**GOOD, "offset": 2.0}, "offset 2.0 s is past the end"),
    ({**GOOD, "duration": 0.009}, "0.009 s long.*at least 0.1 s"),
    ({**GOOD, "audio": None}, "'audio' must be a file path"),
    ({**GOOD, "text": 12345}, "'text' must be text"),
    ({"audio": "ok.wav", "task": "asc", "label": ["park"]}, "'label' must be text"),
])
def test_each_fault_names_file_and_line(clips, bad, message):
    p = _write(clips, [GOOD, bad, GOOD])
    with pytest.raises(ManifestError, match=rf"m.jsonl:2: .*{message}"):
        read_manifest(p)


def test_a_non_utf8_line_is_named_and_the_rest_still_checked(clips):
    p = clips / "m.jsonl"
    p.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"audio": "ok.wav", "task": "asr", "text": "caf\xe9"}\n'
                  + json.dumps({**GOOD, "offset": -1}).encode() + b"\n")
    with pytest.raises(ManifestError, match=r"m.jsonl:2: not UTF-8 text \(byte 0xe9 at column 48\)") as e:
        read_manifest(p)
    assert "m.jsonl:3" in str(e.value)
    assert [ex["_line"] for ex in read_manifest(p, skip_invalid=True)] == [1]
    assert read_manifest(_write(clips, [{"audio": "ok.wav", "task": "count", "label": 3}]))[0]["label"] == 3


def test_skip_invalid_keeps_good_lines(clips, caplog):
    p = _write(clips, [GOOD, {"audio": "missing.wav", "task": "asr", "text": "x"}, GOOD])
    exs = read_manifest(p, skip_invalid=True)
    assert [e["_line"] for e in exs] == [1, 3]
    assert "m.jsonl:2" in caplog.text and "skipped 1 invalid line" in caplog.text


def test_task_filter_and_durations(clips):
    p = _write(clips, [GOOD, {"audio": "ok.wav", "task": "asc", "label": "park", "offset": 0.5}])
    assert [e["task"] for e in read_manifest(p, tasks=["asr"])] == ["asr"]
    exs = read_manifest(p)
    assert exs[0]["_duration"] == 1.0 and exs[1]["_duration"] == 0.5
    assert exs[0]["_audio_path"] == str(clips / "ok.wav")


def test_targets_and_prompts_per_task():
    words = [{"word": "mister", "start": 0.0, "end": 0.41}, {"word": "quilter", "start": 0.41, "end": 0.87}]
    assert target_text({"task": "srwt", "words": words}) == "<|0.00|>mister<|0.41|>quilter<|0.87|>"
    assert target_text({"task": "aqa", "question": "q?", "answer": "yes"}) == "yes"
    assert target_text({"task": "vsc", "label": "cough"}) == "cough"
    assert prompt_text({"task": "asc", "label": "park"}) == \
        "<|startofanalysis|><|unknown|><|keyword|><|en|><|notimestamps|><|scene|>"
    assert prompt_text({"task": "asr", "text": "x"}, "flat") == "<|task_asr|>"


def test_words_past_the_clip_end_are_a_fault(clips):
    words = [{"word": "a", "start": 0.0, "end": 0.5}, {"word": "b", "start": 0.5, "end": 1.5}]
    p = _write(clips, [{"audio": "ok.wav", "task": "srwt", "words": words}])
    with pytest.raises(ManifestError, match=r"m.jsonl:1: bad 'words': ends at 1.5 s, after the clip's end"):
        read_manifest(p)


def test_data_check_finds_every_planted_fault(clips):
    from qa_lab.data.manifest import check_manifest
    sf.write(clips / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    sf.write(clips / "stereo44.wav", 0.1 * np.ones((44100, 2), dtype=np.float32), 44100)
    bad_words = [{"word": "a", "start": 0.6, "end": 0.3}]
    lines = [GOOD,
             {"audio": "missing.wav", "task": "asr", "text": "x"},
             {"audio": "corrupt.wav", "task": "asr", "text": "x"},
             {"audio": "empty.wav", "task": "asr", "text": "x"},
             {"audio": "silent.wav", "task": "asr", "text": "x"},
             {"audio": "long.wav", "task": "asr", "text": "x"},
             {"audio": "ok.wav", "task": "asr"},
             {"audio": "ok.wav", "task": "srwt", "words": bad_words},
             {"audio": "ok.wav", "task": "dance", "text": "x"},
             {"audio": "stereo44.wav", "task": "asc", "label": "park"}]
    r = check_manifest(_write(clips, lines))
    found = dict(r["problems"])
    expected = {2: "not found", 3: "cannot decode", 4: "empty audio", 5: "silent audio", 6: "31.00 s long",
                7: "needs field(s) 'text'", 8: "bad 'words'", 9: "unknown task"}
    assert sorted(found) == sorted(expected)
    for line, text in expected.items():
        assert text in found[line], (line, found[line])
    assert r["ok"] == 2 and r["lines"] == 10
    assert r["formats"] == {"16000 Hz, 1 ch": 2, "44100 Hz, 2 ch": 1}  # every decodable clip, silent too
    assert abs(r["hours"]["asr"] - 1 / 3600) < 1e-9


def test_data_check_cli_exit_codes(clips, corpus):
    import subprocess
    import sys
    ok = subprocess.run([sys.executable, "-m", "qa_lab.cli", "data", "check", str(corpus / "val.jsonl")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "0 with problems" in ok.stdout and "16000 Hz, 1 ch" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "qa_lab.cli", "data", "check",
                          str(_write(clips, [GOOD, {"audio": "missing.wav", "task": "asr", "text": "x"}]))],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "m.jsonl:2:" in bad.stdout


def test_first_per_task_keeps_manifest_order():
    from qa_lab.data.manifest import first_per_task
    exs = [{"task": t} for t in ("asr", "srwt", "asr", "asr", "aqa", "srwt", "srwt")]
    assert first_per_task(exs, 2) == [0, 1, 2, 4, 5]
    assert first_per_task(exs, 0) == []


def test_an_empty_manifest_fails_the_check(tmp_path, capsys):
    from qa_lab.cli import main
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(SystemExit) as e:
        main(["data", "check", str(empty)])
    assert e.value.code == 1
    assert f"{empty}: the manifest has no examples" in capsys.readouterr().out


def test_lines_of_tasks_not_asked_for_are_counted(corpus, caplog):
    import logging
    with caplog.at_level(logging.INFO, logger="qa_lab.data.manifest"):
        kept = read_manifest(corpus / "train.jsonl", ["asr"])
    n_srwt = sum('"task": "srwt"' in line for line in (corpus / "train.jsonl").read_text().splitlines())
    assert kept and all(ex["task"] == "asr" for ex in kept)
    assert f"left out {n_srwt} line(s) of tasks not asked for (srwt x{n_srwt})" in caplog.text


def test_a_clip_not_read_from_a_manifest_is_named_by_its_path_alone():
    from qa_lab.data.manifest import where
    assert where({"audio": "clip.wav", "_line": 1}) == "clip.wav"
    assert where({"audio": "a.wav", "_manifest": "m.jsonl", "_line": 3, "_audio_path": "/x/a.wav"}) == "m.jsonl:3 (/x/a.wav)"


def test_a_blank_text_is_a_fault_and_a_transcript_faster_than_speech_a_warning(clips, caplog, capsys):
    from qa_lab.cli import main
    from qa_lab.data.manifest import check_manifest
    with pytest.raises(ManifestError, match=r"m.jsonl:2: field 'text' is blank \(whitespace only\)"):
        read_manifest(_write(clips, [GOOD, {**GOOD, "text": " \t\n "}]))
    # ok.wav is 1 s: a whole sentence of 12 words cannot be said in it (a truncated file that kept its transcript)
    cut = {**GOOD, "text": "the quick brown fox jumps over the lazy dog and then runs far away"}
    long_words = {**GOOD, "text": "incomprehensibilities"}  # one long word: within the characters' bound
    p = _write(clips, [GOOD, cut, long_words])
    assert len(read_manifest(p)) == 3  # kept: a warning, not a fault
    assert "m.jsonl:2: the transcript has 14 words" in caplog.text and "m.jsonl:1:" not in caplog.text
    assert "m.jsonl:3:" not in caplog.text
    r = check_manifest(p)
    assert [line for line, _ in r["warnings"]] == [2] and r["problems"] == [] and r["ok"] == 3
    main(["data", "check", str(p)])  # exits 0: nothing to refuse
    assert f"{p}:2: warning: the transcript has 14 words (53 characters) for 1.00 s" in capsys.readouterr().out
