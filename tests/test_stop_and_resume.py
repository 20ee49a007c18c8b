"""A stopped run loses nothing: signals save the step reached and exit non-zero, resume continues in the same folder
from the newest readable checkpoint, a changed config is named key by key, and bad input leaves no folder behind."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def _train_cli(*args: str) -> subprocess.Popen:
    """`qa-lab train ...` in a fresh process. Every process of a test that compares losses runs under the same thread
    count (this worker's, whatever OMP_NUM_THREADS the shell had) and precision: reductions split by thread count
    round differently, in bf16 by ~1e-4 on a loss of 16 (measured on an Intel CPU with AMX)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(torch.get_num_threads())}
    return subprocess.Popen([sys.executable, "-c", "from qa_lab.cli import main; main()", "train", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigterm_saves_the_step_exits_nonzero_and_resume_finishes_the_same_curve(smoke_overrides, tmp_path):
    over = smoke_overrides + ["trainer.max_steps=12", "trainer.checkpoint_every_n_steps=2",
                              "trainer.val_every_n_steps=12", "trainer.lr=3e-3"]
    runs = tmp_path / "runs" / "demo"
    proc = _train_cli("demo", *over)
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

    resumed, full = _train_cli("demo", *over, "--resume", str(last)), _train_cli("demo", *over)
    for p in (resumed, full):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    (full_dir,) = [d for d in runs.iterdir() if d != run_dir]  # the resume went on in the same folder
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


def test_resume_takes_the_checkpoint_with_the_highest_step_over_an_older_last(tmp_path, capsys):
    """A kill between two saves leaves last.ckpt behind a newer step file: the folder's newest step wins."""
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    for name, step in (("step4.ckpt", 4), ("last.ckpt", 5), ("step10.ckpt", 10)):
        _fake_checkpoint(ckpts / name, step)
    (ckpts / "step12.ckpt").write_bytes(b"")  # a save the kill cut short
    for given in (tmp_path / "run", ckpts / "last.ckpt"):
        assert resume_point(given)[0] == ckpts / "step10.ckpt"
    out = capsys.readouterr().out
    assert f"resuming from {ckpts / 'step10.ckpt'} instead, the newest readable checkpoint in {ckpts} (step 10); " \
           "last.ckpt holds step 5" in out and f"{ckpts / 'step12.ckpt'}: empty checkpoint file" in out
    assert resume_point(ckpts / "step4.ckpt")[0] == ckpts / "step4.ckpt"  # a step named is the step wanted


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


def test_bad_input_leaves_no_run_folder(smoke_overrides, corpus, tmp_path):
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
    with pytest.raises(ConfigError, match=r"data.task_weights: every trained task has weight 0"):
        load_config("demo", smoke_overrides + ["data.task_weights.asr=0", "data.task_weights.srwt=0"])
    srwt_only = tmp_path / "srwt.jsonl"  # what is trained depends on the manifest too
    srwt_only.write_text("".join(json.dumps({**ex, "audio": str(corpus / ex["audio"])}) + "\n" for ex in
                                 map(json.loads, (corpus / "train.jsonl").read_text().splitlines())
                                 if ex["task"] == "srwt"))
    with pytest.raises(ValueError, match=rf"{srwt_only}: every task it holds for training \(srwt\) has weight 0"):
        train(load_config("demo", smoke_overrides + [f"data.train_manifest={srwt_only}", "data.task_weights.asr=1",
                                                     "data.task_weights.srwt=0"]))
    assert not runs.exists() or not any(runs.rglob("config.yaml"))


def test_runs_started_in_the_same_second_get_a_folder_each(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from qa_lab.train import folders
    monkeypatch.delenv(folders.RUN_DIR_ENV, raising=False)  # make_run_dir sets it; restored after the test
    monkeypatch.setattr(folders.time, "strftime", lambda fmt, *a: "20260101-000000")
    cfg = load_config("demo", [f"runs_dir={tmp_path}"])
    made = [folders.make_run_dir(cfg, None)]
    with monkeypatch.context() as m:
        m.setattr(Path, "exists", lambda self: False)  # the race's window: a run that looked before the other made it
        made.append(folders.make_run_dir(cfg, None))
    with ThreadPoolExecutor(8) as pool:
        made += list(pool.map(lambda _: folders.make_run_dir(cfg, None), range(8)))
    assert len(set(made)) == 10 and all((d / "config.yaml").is_file() for d in made)
    assert made[:2] == [tmp_path / "demo" / "20260101-000000", tmp_path / "demo" / "20260101-000000-1"]


@pytest.mark.parametrize("override, blamed", [
    ("trainer.lr=-1", "override 'trainer.lr'"),
    ("trainer.lr=inf", "override 'trainer.lr'"),
    ("trainer.lr=nan", "override 'trainer.lr'"),
    ("data.batch_seconds=nan", "override 'data.batch_seconds'"),
    ("data.batch_seconds=inf", "override 'data.batch_seconds'"),
    ("trainer.gradient_clip_val=nan", "override 'trainer.gradient_clip_val'"),
    ("trainer.gradient_clip_val=inf", "override 'trainer.gradient_clip_val'"),
    ("trainer.gradient_clip_val=-1", "override 'trainer.gradient_clip_val'"),
    ("data.task_weights.asr=nan", "override 'data.task_weights.asr'"),
    ("trainer.max_steps=-5", "override 'trainer.max_steps'"),
    ("trainer.step_fraction=0", "override 'trainer.step_fraction'"),
    ("trainer.step_fraction=1.5", "override 'trainer.step_fraction'"),
    ("trainer.step_fraction=nan", "override 'trainer.step_fraction'"),
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


def _finite_weights(ckpt) -> bool:
    return all(torch.isfinite(v).all() for v in torch.load(ckpt, weights_only=True)["state_dict"].values())


@pytest.mark.slow  # trains three steps
def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(smoke_overrides, tmp_path,
                                                                                    monkeypatch):
    from qa_lab.errors import TrainingDiverged
    from qa_lab.train.module import AudioLLMModule
    real = AudioLLMModule.training_step

    def poisoned(self, batch, batch_idx):  # a bad batch: the loss of step 2 is NaN, and so are the weights after it
        loss = real(self, batch, batch_idx)
        return loss * float("nan") if self.global_step == 2 else loss
    monkeypatch.setattr(AudioLLMModule, "training_step", poisoned)
    over = smoke_overrides + ["trainer.max_steps=4", "trainer.checkpoint_every_n_steps=1",
                              "trainer.val_every_n_steps=100", "trainer.lr=1e-3"]
    with pytest.raises(TrainingDiverged, match=r"training loss is nan at step 2 \(last finite loss [-+.\de]+ at step "
                                               r"1\).*lower trainer.lr \(now 0.001\)"):
        train(load_config("demo", over), report_examples=0)
    (ckpts,) = (tmp_path / "runs" / "demo").glob("*/checkpoints")
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "step1.ckpt", "step2.ckpt"]
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["global_step"] == 2
    assert all(_finite_weights(p) for p in ckpts.iterdir())


@pytest.mark.parametrize("other", [3.0, float("nan")], ids=["finite", "nan"])
def test_a_nan_on_one_rank_stops_every_rank(other):
    """The decision is taken on the loss all-reduced over the ranks, so a rank whose own loss is finite stops too."""
    from types import SimpleNamespace

    from qa_lab.errors import TrainingDiverged
    from qa_lab.train.callbacks import StopOnNonFinite
    module = torch.nn.Linear(2, 2)
    module.device = torch.device("cpu")
    other_rank = torch.tensor([other, 0.0])  # its loss, and its weights are fine
    trainer = SimpleNamespace(world_size=2, global_step=3, checkpoint_callback=SimpleNamespace(dirpath="ckpts"),
                              strategy=SimpleNamespace(reduce=lambda t, reduce_op: (t + other_rank) / 2))
    guard = StopOnNonFinite(lr=1e-3)
    guard.on_train_batch_start(trainer, module, None, 0)
    if other == 3.0:
        guard.on_train_batch_end(trainer, module, {"loss": torch.tensor(2.0)}, None, 0)
        assert guard.last_finite == (3, 2.5)
    else:
        with pytest.raises(TrainingDiverged, match="loss is nan at step 3"):
            guard.on_train_batch_end(trainer, module, {"loss": torch.tensor(2.0)}, None, 0)


@pytest.mark.slow  # trains until the loss overflows (a step or two)
def test_an_absurd_learning_rate_stops_the_cli_with_an_error_and_no_traceback(smoke_overrides, tmp_path, capsys):
    from qa_lab.cli import main
    with pytest.raises(SystemExit) as e:
        main(["train", "demo", *smoke_overrides, "trainer.lr=1e30"])  # finite, so the config lets it through
    err = capsys.readouterr().err
    assert e.value.code == 1 and "Traceback" not in err
    assert "qa-lab: error: the " in err and "at step" in err and "lower trainer.lr (now 1e+30)" in err
    assert all(_finite_weights(p) for p in (tmp_path / "runs").rglob("*.ckpt"))


@pytest.mark.slow  # trains six steps in two attempts
def test_only_the_newest_step_checkpoints_are_kept_across_a_resume(smoke_overrides, tmp_path):
    """trainer.keep_checkpoints bounds a run's disk: older stepN.ckpt files go as newer ones are saved, last.ckpt
    stays, and a resumed run goes on deleting the first attempt's files (the test suite once filled a CI disk with
    every step of every run)."""
    over = smoke_overrides + ["trainer.max_steps=5", "trainer.checkpoint_every_n_steps=1", "trainer.keep_checkpoints=2",
                              "trainer.val_every_n_steps=100"]
    run_dir, _ = train(load_config("demo", over), report_examples=0)
    ckpts = run_dir / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "step4.ckpt", "step5.ckpt"]
    train(load_config("demo", [*over, "trainer.max_steps=6"]), resume=ckpts / "last.ckpt", report_examples=0)
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "step5.ckpt", "step6.ckpt"]
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["global_step"] == 6
