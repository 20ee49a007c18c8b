"""SRWT decoded by the LLM alone and jointly with the frames' CTC (`decode.ctc_timed`: the words scored by the LLM
and the frames, every time token by the LLM alone), on a checkpoint's world test split. Still the LLM's own time
tokens in both.

    python experiments/results/time-tokens/pointer-4000/ctc_timed.py CKPT [CKPT ...] [--json out.json]
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
        examples, _ = eval_examples(cfg, world_split="test", tasks=["srwt"])
        for timed in (False, True):
            cfg.decode.ctc_timed = timed
            outputs = run(model, cfg, [dict(e) for e in examples])
            m, _ = score(examples, outputs, n_resamples=0)
            s = m["srwt"]
            rows.append({"checkpoint": ckpt, "ctc_timed": timed, "ctc_weight": cfg.decode.ctc_weight,
                         "num_beams": cfg.decode.num_beams, "srwt_wer": s["srwt_wer"]["value"],
                         "aas": s["aas"]["value"], "format_errors": s["format_errors"], "n": s["n"]})
            print(json.dumps(rows[-1]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
