"""The LLM's own grounding and word timing against training steps: every saved checkpoint of a run, evaluated on its
world's test split (srwt and grounding, `decode.times=lm`: the time tokens the LLM writes).

    python experiments/results/time-tokens/steps.py RUN_DIR [RUN_DIR ...] [--every 500] [--json out.json]
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
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--every", type=int, default=500, help="evaluate the checkpoints of steps divisible by this")
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
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


if __name__ == "__main__":
    main()
