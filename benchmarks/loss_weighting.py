"""Loss weighting: what share of the loss each task gets under each trainer.loss_normalization.

Over the first --steps optimiser steps of a run's seeded batch stream (the batches it would train on), per task: the
share of examples data.task_weights asks for, and the measured shares of examples, of target tokens and of loss
weight (the weights the gradient gives each task's token losses, summed). No model is built: only the tokenizer,
the manifests (the world is built if it is not cached) and the sampler.

    python benchmarks/loss_weighting.py [--ablation ablations/srwt --arm srwt_on] [--steps 1000] [key=value ...]

Default: the arm make demo trains first (srwt_on at scale/tiny-cpu). The last line is
`max_relative_gap_tokens: X` (under the default `tokens`, the largest |loss share - token share| / token share).
"""

from __future__ import annotations

import argparse

from qa_lab.config import LOSS_NORMALIZATIONS
from qa_lab.core.build import build_tokenizer
from qa_lab.data.dataset import AudioDataModule, loss_shares
from qa_lab.study.ablation import arm_config, load_ablation
from qa_lab.world.builder import build_for


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ablation", default="ablations/srwt")
    ap.add_argument("--arm", default="srwt_on")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("overrides", nargs="*", help="key=value overrides (e.g. trainer.accumulate_grad_batches=4)")
    a = ap.parse_args()
    cfg = arm_config(load_ablation(a.ablation), a.arm, 0, a.overrides)
    data = AudioDataModule(cfg, build_tokenizer(cfg), world=build_for)
    data.setup()
    print(f"{a.ablation} {a.arm}: {len(data.train_set)} training examples, data.batch_seconds "
          f"{cfg.data.batch_seconds}, trainer.accumulate_grad_batches {cfg.trainer.accumulate_grad_batches}, "
          f"{a.steps} optimiser steps\n")
    gaps = {}
    for norm in LOSS_NORMALIZATIONS:
        shares = loss_shares(data, a.steps, norm)
        print(f"trainer.loss_normalization={norm}")
        print("| task | asked (task_weights) | examples | target tokens | loss weight | loss / tokens | loss / asked |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for task, s in shares.items():
            print(f"| {task} | {s['asked']:.3f} | {s['examples']:.3f} | {s['tokens']:.3f} | {s['loss']:.3f} | "
                  f"{s['loss'] / s['tokens']:.2f} | {s['loss'] / s['asked']:.2f} |")
        gaps[norm] = max(abs(s["loss"] - s["tokens"]) / s["tokens"] for s in shares.values())
        print()
    for norm, g in gaps.items():
        print(f"max_relative_gap_{norm}: {g:.3f}")


if __name__ == "__main__":
    main()
