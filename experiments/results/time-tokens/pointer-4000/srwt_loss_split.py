"""Where SRWT's teacher-forced loss sits, by token kind: each checkpoint's mean loss per word token and per time token
of SRWT targets on its world's 30 ASR test clips, beside the same clips' ASR targets (the same words, no times). If
SRWT's word tokens cost much more than ASR's, the words, not the times, are what SRWT has not learnt.

    python experiments/results/time-tokens/pointer-4000/srwt_loss_split.py CKPT [CKPT ...] [--json out.json]
"""

import argparse
import json
from pathlib import Path

import torch

from qa_lab.core import model as model_module
from qa_lab.core.checkpoint import load
from qa_lab.eval.harness import eval_examples
from qa_lab.prompts import tags
from qa_lab.study.introspection import batch_for


def split(model, cfg, examples, time_ids: torch.Tensor) -> dict:
    """Mean teacher-forced loss per word token and per time token (EOS counted as a word token)."""
    seen = []
    token_losses = model_module.token_losses

    def recorded(logits, target):
        loss = token_losses(logits, target)
        seen.append((loss.detach(), target))
        return loss
    model_module.token_losses = recorded
    try:
        with torch.no_grad():
            for i in range(0, len(examples), 8):
                model(batch_for(model, cfg, examples[i:i + 8]))
    finally:
        model_module.token_losses = token_losses
    sums = {"word": [0.0, 0], "time": [0.0, 0]}
    for loss, target in seen:
        valid = target != -100
        is_time = torch.isin(target, time_ids) & valid
        for kind, mask in (("time", is_time), ("word", valid & ~is_time)):
            sums[kind][0] += float(loss[mask].sum())
            sums[kind][1] += int(mask.sum())
    return {k: {"loss": s / max(n, 1), "tokens": n} for k, (s, n) in sums.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    for ckpt in a.checkpoints:
        cfg, model = load(ckpt)
        model.eval()
        time_ids = torch.tensor(model.tokenizer.convert_tokens_to_ids(list(tags.TIME_TOKENS)))
        asr, _ = eval_examples(cfg, world_split="test", tasks=["asr"])
        srwt = [{**ex, "task": "srwt"} for ex in asr]  # the same clips, their words timed
        row = {"checkpoint": ckpt, "srwt": split(model, cfg, srwt, time_ids), "asr": split(model, cfg, asr, time_ids)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
