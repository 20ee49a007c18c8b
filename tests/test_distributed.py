"""Two CPU processes (Lightning's DDP, gloo) train, validate, checkpoint, resume and evaluate like one process with
the same global batch, in one run folder; FSDP, which needs GPUs, is refused up front on a machine without one."""

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
    r1, r2 = (json.loads((r / "results.json").read_text()) for r in (one, two))
    assert r2["val_loss_after"] == pytest.approx(r1["val_loss_after"], rel=1e-4)

    # resumed from step 2 with two processes: the same folder, both attempts' logs, and the uninterrupted curve
    _qa_lab("train", "demo", *ddp, "--resume", str(two / "checkpoints" / "step2.ckpt"), cwd=tmp_path)
    assert list((tmp_path / "two" / "demo").iterdir()) == [two]
    step = torch.load(two / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert step == 4 and _val_losses(two)[4] == pytest.approx(v2[4], rel=1e-4)

    out = _qa_lab("eval", str(two / "checkpoints" / "last.ckpt"), "--manifest", str(corpus / "val.jsonl"),
                  "--bootstrap", "0", "--max-new-tokens", "4", cwd=tmp_path)
    assert (two / "eval" / "val" / "metrics.json").is_file(), out.stdout[-1000:]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without a GPU")
def test_fsdp_without_a_gpu_is_refused_before_any_folder_exists(smoke_overrides, tmp_path):
    from qa_lab.config import load_config
    from qa_lab.train.run import train
    with pytest.raises(ValueError, match="trainer.strategy=fsdp needs GPUs"):
        train(load_config("demo", smoke_overrides + ["trainer.strategy=fsdp", "trainer.devices=2"]))
    assert not (tmp_path / "runs").exists()
