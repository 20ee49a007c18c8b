import json

import numpy as np
import pytest
import soundfile as sf

from qa_lab.manifest import ManifestError, prompt_text, read_manifest, target_text


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
])
def test_each_fault_names_file_and_line(clips, bad, message):
    p = _write(clips, [GOOD, bad, GOOD])
    with pytest.raises(ManifestError, match=rf"m.jsonl:2: .*{message}"):
        read_manifest(p)


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
