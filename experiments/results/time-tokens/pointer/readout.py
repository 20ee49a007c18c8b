"""What the time pointer (model.time_pointer) reads, teacher-forced on a checkpoint's test clips.

    python experiments/results/time-tokens/pointer/readout.py CKPT [CKPT ...] [--limit 30] [--json out.json]

At every answer position whose target is a time token (srwt and grounding test examples, the reference answer fed in):
- pointer alone: the frame the pointer's scores rank first against the target's frame (seconds off), and the target
  frame's rank among the clip's frames (0 = first);
- head alone: the LM head's first choice among the time tokens without the pointer's scores (seconds off);
- both: the first choice the model decodes with (head + pointer), seconds off;
- the spread (standard deviation) of the pointer's scores over the clip's frames and of the head's time-token logits
  within the clip: which of the two decides.
Everything here is the LLM's own head; nothing is read from the frames' CTC.
"""

import argparse
import json

import numpy as np
import torch

from qa_lab.core.checkpoint import load
from qa_lab.eval.harness import eval_examples
from qa_lab.frames import IGNORE
from qa_lab.prompts.tasks import target
from qa_lab.study.introspection import batch_for


@torch.no_grad()
def readout(ckpt: str, limit: int) -> dict:
    cfg, model = load(ckpt)
    if model.time_pointer is None:
        raise SystemExit(f"{ckpt}: trained without model.time_pointer")
    rank = {int(t): k for k, t in enumerate(model.time_ids)}
    step = round(model.frame_seconds * 100)  # time tokens per frame
    report = {"checkpoint": ckpt, "pointer_weight_rms": float(model.time_pointer.weight.pow(2).mean().sqrt())}
    for task in ("grounding", "srwt"):
        examples, _ = eval_examples(cfg, world_split="test", tasks=[task], limit=limit)
        rows = {k: [] for k in ("pointer_s", "pointer_rank", "head_s", "both_s", "pointer_spread", "head_spread")}
        for ex in examples:
            batch = batch_for(model, cfg, [ex], [target(ex)])
            out = model.language_model(inputs_embeds=model.embed(batch), attention_mask=batch["attention_mask"],
                                       position_ids=model.position_ids(batch), output_hidden_states=True,
                                       use_cache=False)
            last = out.hidden_states[-1]
            keys, n = model.frame_states(last, batch["audio_mask"])
            labels = batch["labels"][0]
            at = [p for p in (labels != IGNORE).nonzero()[:, 0].tolist() if int(labels[p]) in rank]
            if not at:
                continue
            pos = torch.tensor(at) - 1  # the positions that predict each time token
            h = last[:, pos]
            scores = model.pointer_scores(h, keys)[0]  # (K, T)
            head = out.logits[0, pos][:, model.time_ids].float()
            both = model.point_times(out.logits[:, pos], h, keys, n)[0][:, model.time_ids].float()
            within = int(n[0]) * step
            for k, p in enumerate(at):
                t = rank[int(labels[p])]
                frame = min(t // step, int(n[0]) - 1)
                s = scores[k]
                rows["pointer_s"].append(abs(int(s.argmax()) - frame) * model.frame_seconds)
                rows["pointer_rank"].append(int((s > s[frame]).sum()))
                rows["head_s"].append(abs(int(head[k].argmax()) - t) / 100)
                rows["both_s"].append(abs(int(both[k].argmax()) - t) / 100)
                rows["pointer_spread"].append(float(s.std()))
                rows["head_spread"].append(float(head[k, :within].std()))
        report[task] = {"positions": len(rows["pointer_s"]),
                        "pointer_alone_error_s": round(float(np.mean(rows["pointer_s"])), 3),
                        "pointer_target_frame_rank_median": float(np.median(rows["pointer_rank"])),
                        "pointer_top_frame_is_target": round(float(np.mean(np.array(rows["pointer_rank"]) == 0)), 3),
                        "head_alone_error_s": round(float(np.mean(rows["head_s"])), 3),
                        "decoded_choice_error_s": round(float(np.mean(rows["both_s"])), 3),
                        "pointer_score_spread": round(float(np.mean(rows["pointer_spread"])), 2),
                        "head_logit_spread": round(float(np.mean(rows["head_spread"])), 2)}
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ckpts", nargs="+")
    ap.add_argument("--limit", type=int, default=30, help="test examples per task")
    ap.add_argument("--json", help="write the reports here")
    args = ap.parse_args()
    reports = [readout(c, args.limit) for c in args.ckpts]
    for r in reports:
        print(json.dumps(r, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1)


if __name__ == "__main__":
    main()
