"""A stopped run loses nothing: signals save the step reached and exit non-zero, resume continues in the same folder
from the newest readable checkpoint, a changed config is named key by key, and bad input leaves no folder behind."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from qa_lab.config import ConfigError, check_resume, load_config, to_yaml
from qa_lab.core.checkpoint import resume_point
from qa_lab.train.run import train


def _losses(run_dir) -> dict[int, float]:
    with open(run_dir / "logs" / "metrics.csv") as f:
        return {int(r["step"]): float(r["train/loss"]) for r in csv.DictReader(f) if r["train/loss"]}


def _fake_checkpoint(path, step: int, cfg=None):
    torch.save({"state_dict": {}, "global_step": step, "qa_lab_config": to_yaml(cfg or load_config("base"))}, path)


@pytest.mark.slow
def test_sigterm_saves_the_step_exits_nonzero_and_resume_finishes_the_same_curve(smoke_overrides, tmp_path):
    over = smoke_overrides + ["trainer.max_steps=12", "trainer.checkpoint_every_n_steps=2",
                              "trainer.val_every_n_steps=12", "trainer.lr=3e-3"]
    runs = tmp_path / "runs" / "demo"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from qa_lab.cli import main; main()", "train", "demo", *over],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not list(runs.glob("*/checkpoints/step2.ckpt")):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    (run_dir,) = runs.iterdir()
    last = run_dir / "checkpoints" / "last.ckpt"
    step = torch.load(last, weights_only=True)["global_step"]
    assert 2 <= step < 12
    assert max(_losses(run_dir)) == step - 1  # the checkpoint holds the last step trained, not an earlier one
    assert f"stopped by SIGTERM at step {step}" in err and f"--resume {last}" in err

    resumed_dir, _ = train(load_config("demo", over), resume=last, report_examples=0)
    assert resumed_dir == run_dir  # the same folder, both attempts' logs in it
    full_dir, _ = train(load_config("demo", over), report_examples=0)
    full, both = _losses(full_dir), _losses(run_dir)
    assert sorted(both) == list(range(12))
    for s in range(12):
        assert both[s] == pytest.approx(full[s], abs=1e-5), f"step {s}"


def test_resume_falls_back_to_the_newest_readable_checkpoint(tmp_path, capsys):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    for step in (2, 4, 10):
        _fake_checkpoint(ckpts / f"step{step}.ckpt", step)
    (ckpts / "step10.ckpt").write_bytes((ckpts / "step10.ckpt").read_bytes()[:100])  # truncated
    (ckpts / "last.ckpt").write_bytes(b"")  # a save that never finished
    assert resume_point(ckpts / "step2.ckpt")[0] == ckpts / "step2.ckpt"  # a readable file is used as given
    for given in (ckpts / "last.ckpt", tmp_path / "run"):
        path, config_yaml = resume_point(given)
        assert path == ckpts / "step4.ckpt" and config_yaml
    out = capsys.readouterr().out
    assert f"{ckpts / 'last.ckpt'}: empty checkpoint file" in out and f"resuming from {ckpts / 'step4.ckpt'}" in out
    for p in ckpts.glob("step[24].ckpt"):
        p.write_text("junk")
    with pytest.raises(ValueError, match=r"no readable checkpoint in .*\n.*last.ckpt: empty"):
        resume_point(ckpts / "last.ckpt")
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        resume_point(tmp_path / "missing.ckpt")


def test_resume_with_a_changed_model_or_data_key_names_each_key(tmp_path):
    stored = to_yaml(load_config("demo"))
    check_resume(load_config("demo", ["trainer.max_steps=9000", "trainer.val_every_n_steps=7"]), stored, "x.ckpt")
    with pytest.raises(ConfigError) as e:
        check_resume(load_config("demo", ["model.pool_stride=2", "stage=finetune", "data.batch_seconds=8"]),
                     stored, "x.ckpt")
    msg = str(e.value)
    for line in ("model.pool_stride: checkpoint 4, now 2", "stage: checkpoint 'full', now 'finetune'",
                 "data.batch_seconds: checkpoint 64.0, now 8.0"):
        assert line in msg
    assert "trainer.max_steps" not in msg


@pytest.mark.slow  # trains, then resumes
def test_a_changed_config_on_resume_fails_before_anything_is_written(smoke_overrides, tmp_path):
    run = tmp_path / "old"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text("kept")
    _fake_checkpoint(run / "checkpoints" / "last.ckpt", 3, load_config("demo", smoke_overrides))
    before = sorted(p.name for p in run.rglob("*"))
    with pytest.raises(ConfigError, match="model.pool_stride: checkpoint 4, now 8"):
        train(load_config("demo", smoke_overrides + ["model.pool_stride=8"]), resume=run / "checkpoints" / "last.ckpt")
    assert sorted(p.name for p in run.rglob("*")) == before and (run / "config.yaml").read_text() == "kept"


def test_bad_input_leaves_no_run_folder(smoke_overrides, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio": "missing.wav", "task": "asr", "text": "hello"}\n')
    runs = tmp_path / "runs"
    with pytest.raises(ValueError, match=rf"{bad}:1: "):
        train(load_config("demo", smoke_overrides + [f"data.train_manifest={bad}"]))
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        train(load_config("demo", smoke_overrides), resume=tmp_path / "nope.ckpt")
    with pytest.raises(ValueError, match=r"too long.*\n  .*train.jsonl:1 \(.*\): a target of \d+ tokens, over "
                                         r"data.max_target_tokens=3"):
        train(load_config("demo", smoke_overrides + ["data.max_target_tokens=3"]))
    assert not runs.exists() or not any(runs.rglob("config.yaml"))


@pytest.mark.parametrize("override, blamed", [
    ("trainer.lr=-1", "override 'trainer.lr'"),
    ("trainer.max_steps=-5", "override 'trainer.max_steps'"),
    ("data.task_weights.asrr=2", "override 'data.task_weights.asrr'"),
])
def test_a_bad_value_is_refused_and_blames_where_it_was_set(override, blamed):
    with pytest.raises(ConfigError, match=rf"^{blamed}: {override.split('=')[0]}="):
        load_config("demo", [override])


def test_a_task_weight_for_an_untrained_task_suggests_the_close_one():
    with pytest.raises(ConfigError, match="'asrr' is not trained .*did you mean 'asr'"):
        load_config("demo", ["data.task_weights.asrr=2"])


@pytest.mark.slow  # trains on a corpus with a bad clip, both data paths
@pytest.mark.parametrize("cached", [True, False], ids=["cached-features", "mel-every-step"])
def test_a_clip_with_nan_samples_is_named_or_skipped_under_skip_invalid(smoke_overrides, corpus, tmp_path, caplog,
                                                                       cached):
    """NaN/Inf samples only show when a clip is decoded: an error naming file:line, or a counted skip."""
    from qa_lab.data.audio import AudioError
    sf.write(tmp_path / "nan.wav", np.full(16000 * 5, np.nan, np.float32), 16000, subtype="FLOAT")
    good = json.loads((corpus / "train.jsonl").read_text().splitlines()[0])
    good["audio"] = str(corpus / good["audio"])
    manifest = tmp_path / "train.jsonl"
    manifest.write_text(json.dumps(good) + "\n" + json.dumps({**good, "audio": str(tmp_path / "nan.wav")}) + "\n")
    over = smoke_overrides + [f"data.train_manifest={manifest}", f"data.cache_features={cached}",
                              "trainer.max_steps=4", "trainer.val_every_n_steps=100"]
    with pytest.raises(AudioError, match=rf"{manifest}:2 .*NaN or Inf"):
        train(load_config("demo", over), report_examples=0)
    run, _ = train(load_config("demo", over + ["data.skip_invalid=true"]), report_examples=0)
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert f"{manifest}:2" in caplog.text and "NaN or Inf" in caplog.text and "skipped" in caplog.text
