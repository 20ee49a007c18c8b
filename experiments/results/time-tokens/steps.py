"""The LLM's own grounding and word timing against training steps: every saved checkpoint of a run, evaluated on its
world's test split (srwt and grounding, `decode.times=lm`: the time tokens the LLM writes).

    python experiments/results/time-tokens/steps.py RUN_DIR [RUN_DIR ...] [--every 500] [--json out.json] [--plot out.png]
    python experiments/results/time-tokens/steps.py --rows steps.json --plot steps.png   # redraw from saved rows
"""

import argparse
import json
import re
import time
from pathlib import Path

from qa_lab.core.checkpoint import load
from qa_lab.eval.decode import run
from qa_lab.eval.harness import eval_examples, score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*")
    ap.add_argument("--every", type=int, default=500, help="evaluate the checkpoints of steps divisible by this")
    ap.add_argument("--json")
    ap.add_argument("--rows", help="rows written by --json: plot them instead of evaluating")
    ap.add_argument("--plot", help="grounding IoU and SRWT WER against steps, one line per run")
    args = ap.parse_args()
    rows = json.loads(Path(args.rows).read_text()) if args.rows else []
    for run_dir in map(Path, args.runs):
        ckpts = sorted((int(m.group(1)), p) for p in (run_dir / "checkpoints").glob("step*.ckpt")
                       if (m := re.fullmatch(r"step(\d+)\.ckpt", p.name)) and int(m.group(1)) % args.every == 0)
        for step, ckpt in ckpts:
            start = time.time()
            cfg, model = load(ckpt)
            model.eval()
            examples, _ = eval_examples(cfg, world_split="test", tasks=["srwt", "grounding"])
            metrics, _ = score(examples, run(model, cfg, [dict(e) for e in examples]), n_resamples=0)
            row = {"run": str(run_dir), "step": step, "grounding_iou": metrics["grounding"]["iou"]["value"],
                   "srwt_aas": metrics["srwt"]["aas"]["value"], "srwt_wer": metrics["srwt"]["srwt_wer"]["value"],
                   "srwt_matched_words": metrics["srwt"]["matched_words"], "eval_s": round(time.time() - start)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    if args.plot:
        plot(rows).savefig(args.plot, dpi=110, bbox_inches="tight")


def plot(rows: list[dict]):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for run in dict.fromkeys(r["run"] for r in rows):
        mine = [r for r in rows if r["run"] == run]
        label = Path(run).parent.name
        for ax, key in zip(axes, ("grounding_iou", "srwt_wer", "srwt_aas")):
            ax.plot([r["step"] for r in mine], [r[key] for r in mine], marker="o", label=label)
    for ax, title in zip(axes, ("grounding IoU (LLM's own times)", "SRWT WER (LLM's own words)",
                                "SRWT AAS, s (matched words)")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
    axes[0].axhline(0.107, color="grey", ls="--", lw=1, label="constant answer: the whole clip")
    axes[0].legend(fontsize=7)
    return fig


if __name__ == "__main__":
    main()
