"""Tar shards (qa-lab data shard): the same examples, the same audio, the same training, read one member at a time."""

import csv
import json
import tarfile

import numpy as np
import pytest

from qa_lab.config import load_config
from qa_lab.data.audio import AudioError, load_audio
from qa_lab.data.manifest import check_manifest, read_manifest
from qa_lab.data.shard_writer import write_shards


@pytest.fixture
def sharded(corpus, tmp_path):
    return write_shards(corpus / "train.jsonl", tmp_path / "shards", shard_mb=0.1, progress=False)


def test_shards_hold_every_clip_once_and_give_back_the_same_examples(corpus, sharded):
    before, after = read_manifest(corpus / "train.jsonl"), read_manifest(sharded)
    shards = sorted(sharded.parent.glob("shard-*.tar"))
    assert len(shards) >= 2  # 0.1 MiB shards: the clips spread over several
    members = [m for s in shards for m in tarfile.open(s).getnames()]  # plain tar: any tool reads them
    assert len(members) == len(set(members)) == len({ex["_audio_path"] for ex in before})  # lines share clips
    assert len(after) == len(before)
    for a, b in zip(before, after):
        assert ".tar/" in b["_audio_path"] and b["_duration"] == pytest.approx(a["_duration"], abs=1e-6)
        assert {k: v for k, v in a.items() if not k.startswith("_") and k != "audio"} == \
               {k: v for k, v in b.items() if not k.startswith("_") and k != "audio"}
        np.testing.assert_array_equal(load_audio(a["_audio_path"]), load_audio(b["_audio_path"]))
    assert check_manifest(sharded)["problems"] == []


def test_a_missing_member_is_named_and_a_written_folder_is_not_overwritten(corpus, sharded):
    line = json.loads(sharded.read_text().splitlines()[0])
    with pytest.raises(AudioError, match=r"99999999\.wav: audio file not found"):
        load_audio(sharded.parent / line["audio"].split("/")[0] / "99999999.wav")
    with pytest.raises(ValueError, match="--overwrite"):
        write_shards(corpus / "train.jsonl", sharded.parent, progress=False)


def _curve(run_dir) -> list[float]:
    with open(run_dir / "logs" / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r["train/loss"]]


@pytest.mark.slow  # two short trainings
def test_training_on_shards_is_training_on_the_files(smoke_overrides, corpus, sharded):
    from qa_lab.train.run import train
    over = smoke_overrides + ["trainer.max_steps=4", "trainer.log_every_n_steps=1", "data.cache_features=false"]
    files = _curve(train(load_config("demo", over), report_examples=0)[0])
    shards = _curve(train(load_config("demo", over + [f"data.train_manifest={sharded}"]), report_examples=0)[0])
    assert shards == files and len(files) == 4


def test_a_shard_folder_that_holds_the_manifest_or_its_audio_is_refused_overwrite_or_not(corpus, tmp_path):
    import shutil
    lines = [json.loads(line) for line in (corpus / "train.jsonl").read_text().splitlines()[:3]]
    (tmp_path / "audio").mkdir()
    for ex in lines:
        shutil.copy(corpus / ex["audio"], tmp_path / "audio")
        ex["audio"] = f"audio/{ex['audio'].rsplit('/', 1)[-1]}"
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(ex) + "\n" for ex in lines))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for out, held in ((tmp_path, manifest), (tmp_path / "audio", tmp_path / "audio")):
        for overwrite in (False, True):
            with pytest.raises(ValueError, match=f"{out}: the shard folder holds {held}, which this command reads"):
                write_shards(manifest, out, overwrite=overwrite, progress=False)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
