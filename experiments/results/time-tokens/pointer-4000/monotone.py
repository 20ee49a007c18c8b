"""Grounding decoded with and without Whisper's timestamp rule (`decode.monotone_times`): the LLM's own answers on a
checkpoint's world test split, where an answer whose span ends before it starts does not parse and scores IoU 0.

    python experiments/results/time-tokens/pointer-4000/monotone.py CKPT [CKPT ...] [--json out.json]
"""

import argparse
import json
from pathlib import Path

from qa_lab.core.checkpoint import load
from qa_lab.eval.decode import run
from qa_lab.eval.harness import eval_examples, score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    for ckpt in a.checkpoints:
        cfg, model = load(ckpt)
        model.eval()
        examples, _ = eval_examples(cfg, world_split="test", tasks=["grounding"])
        for monotone in (False, True):
            cfg.decode.monotone_times = monotone
            outputs = run(model, cfg, [dict(e) for e in examples])
            m, _ = score(examples, outputs, n_resamples=0)
            g = m["grounding"]
            rows.append({"checkpoint": ckpt, "monotone_times": monotone, "iou": g["iou"]["value"],
                         "format_errors": g["format_errors"], "n": g["n"],
                         "open_at_zero": sum(o.startswith("<|0.00|>") for o in outputs)})
            print(json.dumps(rows[-1]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
