"""Two CPU processes (Lightning's DDP, gloo) train, validate, checkpoint, resume and evaluate like one process with
the same global batch, in one run folder; FSDP and DeepSpeed, which need GPUs, are refused up front on a machine
without one."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def _qa_lab(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "qa_lab.cli", *args], capture_output=True, text=True, timeout=600,
                         env=env, cwd=cwd)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out


def _val_losses(run: Path) -> dict[int, float]:
    with open(run / "logs" / "metrics.csv") as f:
        return {int(r["step"]): float(r["val/loss"]) for r in csv.DictReader(f) if r.get("val/loss")}


def _val_decoded(run: Path) -> dict[tuple[int, str], float]:
    """The task metrics decoded at each validation (trainer.val_decode_per_task), by (step, column)."""
    with open(run / "logs" / "metrics.csv") as f:
        return {(int(r["step"]), k): float(v) for r in csv.DictReader(f) for k, v in r.items()
                if k.startswith("val/") and k.count("/") == 2 and not k.endswith("/loss") and v}


@pytest.mark.slow  # three real trainings, two of them in two processes: 1-2 min
def test_two_processes_match_one_with_the_same_global_batch_in_one_folder(smoke_overrides, corpus, tmp_path):
    common = [o for o in smoke_overrides if not o.startswith("runs_dir=")] + [
        "trainer.max_steps=4", "trainer.checkpoint_every_n_steps=2",
        "trainer.lr=3e-3", "trainer.warmup_steps=1", "lora.dropout=0.0", "trainer.accelerator=cpu"]
    common.append("trainer.val_every_n_steps=2")  # optimiser steps, whatever the accumulation
    _qa_lab("train", "demo", *common, "trainer.accumulate_grad_batches=2", f"runs_dir={tmp_path / 'one'}", cwd=tmp_path)
    ddp = [*common, "trainer.strategy=ddp", "trainer.devices=2", f"runs_dir={tmp_path / 'two'}"]
    _qa_lab("train", "demo", *ddp, cwd=tmp_path)
    (one,), runs = list((tmp_path / "one" / "demo").iterdir()), list((tmp_path / "two" / "demo").iterdir())
    assert len(runs) == 1, runs  # every rank wrote into the folder rank 0 made
    two = runs[0]
    # the same optimiser steps (rank r trains on every other batch of the stream; one process accumulates both):
    # the held-out loss, summed over the ranks' halves of the validation set, matches to float rounding
    v1, v2 = _val_losses(one), _val_losses(two)
    assert sorted(v1) == sorted(v2) and len(v1) >= 3
    for step in v1:
        assert v2[step] == pytest.approx(v1[step], rel=1e-4), (step, v1, v2)
    # the clips decoded at validation, shared out over the ranks and gathered: the same task metrics as one process
    d1, d2 = _val_decoded(one), _val_decoded(two)
    assert d1.keys() == d2.keys() and len(d1) >= 3, (d1, d2)
    for key in d1:
        assert d2[key] == pytest.approx(d1[key], abs=1e-6), (key, d1, d2)
    r1, r2 = (json.loads((r / "results.json").read_text()) for r in (one, two))
    assert r2["val_loss_after"] == pytest.approx(r1["val_loss_after"], rel=1e-4)

    # resumed from step 2 with two processes: the same folder, both attempts' logs, and the uninterrupted curve
    _qa_lab("train", "demo", *ddp, "--resume", str(two / "checkpoints" / "step2.ckpt"), cwd=tmp_path)
    assert list((tmp_path / "two" / "demo").iterdir()) == [two]
    step = torch.load(two / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert step == 4 and _val_losses(two)[4] == pytest.approx(v2[4], rel=1e-4)

    decode = [str(two / "checkpoints" / "last.ckpt"), "--manifest", str(corpus / "val.jsonl"), "--bootstrap", "0",
              "--max-new-tokens", "4"]
    out = _qa_lab("eval", *decode, cwd=tmp_path)
    assert (two / "eval" / "val" / "metrics.json").is_file(), out.stdout[-1000:]

    # decoding split over two processes (each every other example): the same answers, gathered and written once
    _qa_lab("eval", *decode, "--devices", "2", "--accelerator", "cpu", "--out", str(tmp_path / "split"), cwd=tmp_path)
    answers = [[json.loads(line)["output"] for line in open(d / "predictions.jsonl")]
               for d in (two / "eval" / "val", tmp_path / "split")]
    assert answers[1] == answers[0] and len(answers[0]) > 2
    assert sorted(p.name for p in tmp_path.iterdir() if "split" in p.name) == ["split"]  # no rank left a folder


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
@pytest.mark.parametrize("strategy", ["fsdp", "deepspeed"])
def test_sharding_strategies_without_a_gpu_are_refused_before_any_folder_exists(smoke_overrides, tmp_path, strategy):
    from qa_lab.config import load_config
    from qa_lab.train.run import train
    with pytest.raises(ValueError, match=f"trainer.strategy={strategy} needs GPUs"):
        train(load_config("demo", smoke_overrides + [f"trainer.strategy={strategy}", "trainer.devices=2",
                                                     "trainer.val_decode_per_task=0"]))
    assert not (tmp_path / "runs").exists()


def test_fsdp_with_decoding_at_validation_is_refused_by_the_config(smoke_overrides):
    from qa_lab.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="trainer.val_decode_per_task=8 with trainer.strategy=fsdp"):
        load_config("demo", smoke_overrides + ["trainer.strategy=fsdp"])


@pytest.mark.parametrize("launch, folder", [
    ({"WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "abc"}, "torchrun-abc"),
    ({"SLURM_NTASKS": "2", "SLURM_JOB_ID": "77", "SLURM_STEP_ID": "0"}, "slurm-77.0"),
])
def test_ranks_torchrun_or_slurm_started_share_one_folder_named_by_the_launch(monkeypatch, tmp_path, launch, folder):
    from qa_lab.config import load_config
    from qa_lab.train.folders import RUN_DIR_ENV, make_run_dir
    cfg = load_config("demo", [f"runs_dir={tmp_path}"])
    for key in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK", RUN_DIR_ENV, "WORLD_SIZE", "SLURM_NTASKS",
                "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "SLURM_STEP_ID"):
        monkeypatch.delenv(key, raising=False)
    for key, value in launch.items():
        monkeypatch.setenv(key, value)
    rank_key = "RANK" if "WORLD_SIZE" in launch else "SLURM_PROCID"
    monkeypatch.setenv(rank_key, "1")  # a rank may start before rank 0: it names the folder and writes nothing
    other = make_run_dir(cfg, None)
    assert other == tmp_path / "demo" / folder and not other.exists()
    monkeypatch.setenv(rank_key, "0")
    first = make_run_dir(cfg, None)
    assert first == other and (first / "config.yaml").is_file()
    assert list((tmp_path / "demo").iterdir()) == [first]


def test_a_rank_with_no_way_to_find_the_run_folder_stops_with_what_to_do(monkeypatch, tmp_path):
    from qa_lab.config import load_config
    from qa_lab.train.folders import RUN_DIR_ENV, make_run_dir
    for key in (RUN_DIR_ENV, "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun without --standalone or --rdzv-id: no shared id
    with pytest.raises(RuntimeError, match="torchrun --standalone"):
        make_run_dir(load_config("demo", [f"runs_dir={tmp_path}"]), None)
    assert not any(tmp_path.iterdir())


def test_fsdp_wraps_each_encoder_and_decoder_layer_once_under_lora(smoke_overrides):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.train.trainer import fsdp_layer_classes
    cfg = load_config("demo", smoke_overrides + ["stage=finetune"])
    model = build_model(cfg)  # the LLM under peft's LoRA wrapper: frozen and trainable weights in the same layers
    classes = fsdp_layer_classes(model)
    assert {c.__name__ for c in classes} >= {"WhisperEncoderLayer"} and len(classes) == 2
    units = [m for m in model.modules() if type(m) in classes]
    llm = model.language_model.get_base_model().config
    assert len(units) == model.audio_tower.config.encoder_layers + llm.num_hidden_layers


@pytest.mark.gpu
def test_fsdp_trains_and_checkpoints_the_tiny_model_on_a_gpu(smoke_overrides, tmp_path):
    _qa_lab("train", "demo", *smoke_overrides, "trainer.strategy=fsdp", "trainer.devices=1", "trainer.max_steps=2",
            "trainer.val_decode_per_task=0", "trainer.accelerator=gpu", "stage=finetune", cwd=tmp_path)
    (run,) = list((tmp_path / "runs" / "demo").iterdir())
    assert (run / "checkpoints" / "last.ckpt").exists() and (run / "results.json").is_file()
