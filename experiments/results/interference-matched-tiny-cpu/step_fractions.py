"""The step fractions of ablations/interference_matched: how many steps a task family trained alone needs to see as
many examples of its tasks as the mixture (ablations/tags' hierarchical arm) sees in its steps.

Counts, over each arm's seeded batch stream (no model is built), the examples of the family's tasks in the mixture's
trainer.max_steps steps and the examples per step of the family-alone arm, for seed 0:

    python experiments/results/interference-matched-tiny-cpu/step_fractions.py
"""

from __future__ import annotations

from qa_lab.core.build import build_tokenizer
from qa_lab.data.dataset import AudioDataModule
from qa_lab.study.ablation import arm_config, load_ablation
from qa_lab.world.builder import build_for


def examples_by_task(ab, arm: str, steps: int) -> dict[str, int]:
    cfg = arm_config(ab, arm, 0, ["trainer.step_fraction=1.0"])
    data = AudioDataModule(cfg, build_tokenizer(cfg), world=build_for)
    data.setup()
    sampler, tasks = (data.train_dataloader(), data.train_sampler)[1], [ex["task"] for ex in data.train_set.examples]
    out: dict[str, int] = {}
    for s in range(steps):
        for b in sampler.step_batches(s, cfg.trainer.accumulate_grad_batches):
            for i in b:
                out[tasks[i]] = out.get(tasks[i], 0) + 1
    return out


def main() -> None:
    ab = load_ablation("ablations/interference_matched")
    steps = arm_config(ab, ab.baseline, 0).trainer.max_steps
    mixture = examples_by_task(ab, ab.baseline, steps)
    print(f"mixture ({ab.baseline}), {steps} steps: {sum(mixture.values())} examples, by task {mixture}")
    for arm in ab.arms:
        if arm == ab.baseline:
            continue
        alone = examples_by_task(ab, arm, steps)
        family = sum(mixture.get(t, 0) for t in alone)
        per_step = sum(alone.values()) / steps
        print(f"{arm}: the mixture sees {family} examples of {sorted(alone)}; alone, {per_step:.2f} per step -> "
              f"step_fraction {family / per_step / steps:.3f} (the arm's: "
              f"{arm_config(ab, arm, 0).trainer.step_fraction})")


if __name__ == "__main__":
    main()
