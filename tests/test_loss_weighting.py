"""trainer.loss_normalization: the optimiser's loss honours the mixture, across steps, micro-batches and ranks."""

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from qa_lab.config import load_config
from qa_lab.data.dataset import AudioDataModule, BucketBatchSampler, loss_shares
from qa_lab.train.run import train
from qa_lab.world.builder import build_for


def _mixture(accumulate: int = 1, world_size: int = 1, rank: int = 0) -> AudioDataModule:
    """400 clips: half ASR (5-10 s, 20-40 target tokens), half a short-clip task (1-2 s, 2 tokens), equal weights:
    short clips pack 16 to a batch, so a batch mean gives their tokens about 6x the weight of ASR's."""
    rng = np.random.default_rng(0)
    tasks = ["asr"] * 200 + ["cls"] * 200
    durations = np.concatenate([rng.uniform(5, 10, 200), rng.uniform(1, 2, 200)])
    counts = np.concatenate([rng.integers(20, 41, 200), np.full(200, 2)])
    cfg = load_config("demo", [f"trainer.accumulate_grad_batches={accumulate}"])
    data = AudioDataModule(cfg, tokenizer=None, world=build_for)
    data.train_set = SimpleNamespace(label_counts=lambda: counts, examples=[{"task": t} for t in tasks])
    data.train_sampler = BucketBatchSampler(durations, tasks, 40.0, 16, {}, seed=3, num_batches=10**6, rank=rank,
                                            world_size=world_size)
    return data


def test_step_batches_are_the_batches_every_rank_trains_on_in_that_step():
    ranks = [list(_mixture(2, 2, r).train_sampler) [:10] for r in (0, 1)]  # each rank's first 5 steps of 2 batches
    whole = _mixture(2, 2).train_sampler
    for step in range(5):
        mine = [b for r in (0, 1) for b in ranks[r][2 * step:2 * step + 2]]
        assert sorted(map(sorted, whole.step_batches(step, 2))) == sorted(map(sorted, mine))


@pytest.mark.parametrize("accumulate,world_size", [(1, 1), (4, 1), (2, 2)])
def test_each_task_gets_the_loss_share_its_normalisation_promises(accumulate, world_size):
    data = _mixture(accumulate, world_size)
    tokens = loss_shares(data, 1000 // (accumulate * world_size), "tokens")
    examples = loss_shares(data, 1000 // (accumulate * world_size), "examples")
    batch = loss_shares(data, 1000 // (accumulate * world_size), "batch")
    for task in ("asr", "cls"):
        assert tokens[task]["loss"] == pytest.approx(tokens[task]["tokens"], rel=0.05)
        assert examples[task]["loss"] == pytest.approx(examples[task]["asked"], rel=0.05)
        assert examples[task]["examples"] == pytest.approx(0.5, rel=0.05)  # task_weights: equal
    # the per-batch mean (the kit before) gives the short-answer task far more than its share of tokens
    assert batch["cls"]["loss"] > 2 * batch["cls"]["tokens"]


def _curve(run_dir) -> list[float]:
    with open(run_dir / "logs" / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r["train/loss"]]


@pytest.mark.slow  # four short trainings
def test_step_tokens_is_the_batch_mean_in_one_process_and_the_default_trains(smoke_overrides):
    over = smoke_overrides + ["trainer.max_steps=4", "trainer.log_every_n_steps=1", "trainer.lr=3e-3",
                              "trainer.val_every_n_steps=4"]
    curves = {n: _curve(train(load_config("demo", over + [f"trainer.loss_normalization={n}"]),
                              report_examples=0)[0]) for n in ("batch", "step_tokens", "tokens")}
    assert curves["step_tokens"] == curves["batch"]  # the denominator is the batch's own label count, to the digit
    assert curves["tokens"] != curves["batch"] and len(curves["tokens"]) == 4  # the option reaches the optimiser
    accumulated = _curve(train(load_config("demo", over + ["trainer.accumulate_grad_batches=2"]), report_examples=0)[0])
    assert len(accumulated) >= 4 and all(np.isfinite(accumulated))


def test_a_run_made_before_the_default_changed_is_not_taken_for_the_new_recipe():
    from qa_lab.config import differences, from_yaml_text, to_yaml
    cfg = load_config("demo")
    old = to_yaml(cfg).replace("  loss_normalization: tokens\n", "")  # what run folders and checkpoints held before
    assert old != to_yaml(cfg) and from_yaml_text(old).trainer.loss_normalization == "batch"
    assert "trainer.loss_normalization" in list(differences(from_yaml_text(old), cfg))  # ablate redoes, resume refuses
