"""Each task's headline figure at every evaluated checkpoint of a long tags run, against its best constant answer on
the same test clips (the tag ablation's `constant_answers.csv`, seed 0): does every task learn with more steps?

    qa-lab eval RUN/checkpoints/stepN.ckpt --world test --bootstrap 0 --out EVALS/ARM/stepN    # per checkpoint
    python experiments/results/tags-tiny-cpu/steps-3000/against_constants.py EVALS [--md out.md]
"""

import argparse
import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADLINE = {"asr": "wer[en]", "srwt": "srwt_wer", "s2tt": "bleu[en]", "lid": "accuracy", "gender": "accuracy",
            "ser": "accuracy", "event": "accuracy", "asc": "accuracy", "aqa": "accuracy"}
LOWER_IS_BETTER = {"wer[en]", "srwt_wer"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("evals", help="a folder of ARM/stepN/metrics.json")
    ap.add_argument("--md", help="also write the table here")
    a = ap.parse_args()
    const = {r["task"]: float(r["value"]) for r in csv.DictReader((HERE.parent / "constant_answers.csv").open())
             if r["seed"] == "0"}
    cols = sorted((p.parent for p in Path(a.evals).glob("*/step*/metrics.json")),
                  key=lambda p: (p.parent.name, int(p.name.removeprefix("step"))))
    head = "| task (metric) | constant | " + " | ".join(f"{p.parent.name} {p.name}" for p in cols) + " |"
    lines = [head, "|" + " --- |" * (2 + len(cols))]
    for task, metric in HEADLINE.items():
        cells = []
        for p in cols:
            m = json.loads((p / "metrics.json").read_text())["metrics"].get(task, {}).get(metric)
            if m is None:
                cells.append("—")
                continue
            v = m["value"]
            beats = v < const[task] if metric in LOWER_IS_BETTER else v > const[task]
            cells.append(("**" if beats else "") + fmt(metric, v) + ("**" if beats else ""))
        lines.append(f"| {task} ({metric}) | {fmt(metric, const[task])} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n\nBold: better than the constant answer.\n"
    print(table)
    if a.md:
        Path(a.md).write_text(table)


def fmt(metric: str, v: float) -> str:
    return f"{v:.1f}" if metric.startswith("bleu") else f"{100 * v:.1f} %"


if __name__ == "__main__":
    main()
