"""Loss normalisation in the tags ablation: the same arms, seeds and test worlds trained under the tiny-cpu scale's
`trainer.loss_normalization=batch` (the run kept in before-lid-fix-batch-loss/) and under `examples` (this folder),
paired by seed. The hierarchical arm's LID, gender and SER prompts changed between the two (the LID prompt fix), so
only the flat and natural arms compare the normalisation alone. Prints a markdown table.

    python experiments/results/tags-tiny-cpu/compare_normalisation.py
"""

from __future__ import annotations

import csv
from pathlib import Path

from qa_lab.study.stats import mean_ci, paired_difference

HERE = Path(__file__).resolve().parent
METRICS = [("asr", "wer[en]"), ("srwt", "srwt_wer"), ("s2tt", "bleu[en]"), ("lid", "accuracy"),
           ("gender", "accuracy"), ("ser", "accuracy"), ("event", "accuracy"), ("asc", "accuracy"),
           ("aqa", "accuracy")]
PERCENT = {"wer[en]", "srwt_wer", "accuracy"}


def values(path: Path) -> dict[tuple[str, str, str], dict[int, float]]:
    out: dict[tuple[str, str, str], dict[int, float]] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            if r["eval"] == "world-test":
                out.setdefault((r["arm"], r["task"], r["metric"]), {})[int(r["seed"])] = float(r["value"])
    return out


def main() -> None:
    old, new = values(HERE / "before-lid-fix-batch-loss" / "results.csv"), values(HERE / "results.csv")
    print("| arm | task | metric | batch (mean) | examples (mean) | examples - batch [95 % CI], paired by seed |")
    print("| --- | --- | --- | --- | --- | --- |")
    for arm in ("flat", "natural", "hierarchical"):
        for task, metric in METRICS:
            a, b = new.get((arm, task, metric), {}), old.get((arm, task, metric), {})
            seeds = sorted(set(a) & set(b))
            if not seeds:
                continue
            scale = 100 if metric in PERCENT else 1
            d = paired_difference([a[s] * scale for s in seeds], [b[s] * scale for s in seeds])
            star = " *" if d["significant"] else ""
            print(f"| {arm} | {task} | {metric} | {mean_ci([b[s] * scale for s in seeds])[0]:.1f} | "
                  f"{mean_ci([a[s] * scale for s in seeds])[0]:.1f} | {d['diff']:+.1f} [{d['lo']:+.1f}, "
                  f"{d['hi']:+.1f}]{star} |")


if __name__ == "__main__":
    main()
