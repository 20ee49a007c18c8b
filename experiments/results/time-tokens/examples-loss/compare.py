"""The SRWT ablation's recipe under trainer.loss_normalization=examples (this folder) against the committed run under
the scale's `batch` (../../srwt-tiny-cpu-seeds/), the same arms, seeds and test worlds, paired by seed. Prints a
markdown table of the LLM's own figures (and the frames' grounding, marked).

    python experiments/results/time-tokens/examples-loss/compare.py
"""

from __future__ import annotations

import csv
from pathlib import Path

from qa_lab.study.stats import paired_difference

HERE = Path(__file__).resolve().parent
BATCH = HERE.parents[1] / "srwt-tiny-cpu-seeds" / "results.csv"
ROWS = [("world-test", "grounding", "iou"), ("world-test", "srwt", "srwt_wer"), ("world-test", "srwt", "aas"),
        ("world-test", "asr", "wer[en]"), ("world-test", "aqa", "accuracy"), ("world-test", "aqa", "accuracy[temporal]"),
        ("world-test.times-ctc", "grounding", "iou")]


def values(path: Path) -> dict[tuple, dict[int, float]]:
    out: dict[tuple, dict[int, float]] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            out.setdefault((r["arm"], r["eval"], r["task"], r["metric"]), {})[int(r["seed"])] = float(r["value"])
    return out


def main() -> None:
    batch, examples = values(BATCH), values(HERE / "results.csv")
    print("| arm | figure | batch (mean) | examples (mean) | examples - batch [95 % CI], paired by seed |")
    print("| --- | --- | --- | --- | --- |")
    for arm in ("srwt_on", "srwt_off"):
        for ev, task, metric in ROWS:
            b, e = batch.get((arm, ev, task, metric)), examples.get((arm, ev, task, metric))
            if not b or not e:
                continue
            seeds = sorted(set(b) & set(e))
            d = paired_difference([e[s] for s in seeds], [b[s] for s in seeds])
            scale, f = (1, ".2f") if metric == "aas" else (100, ".1f")  # AAS in seconds, the rest in %
            name = f"{task}/{metric}" + (" [frames]" if ev.endswith("ctc") else "")
            print(f"| {arm} | {name} | {scale * sum(b[s] for s in seeds) / len(seeds):{f}} | "
                  f"{scale * sum(e[s] for s in seeds) / len(seeds):{f}} | {scale * d['diff']:+{f}} "
                  f"[{scale * d['lo']:+{f}}, {scale * d['hi']:+{f}}] |")


if __name__ == "__main__":
    main()
