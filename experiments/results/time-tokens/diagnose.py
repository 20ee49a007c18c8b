"""Why the LLM's own time tokens do not ground: measurements on trained checkpoints, each printed with what it tells.

    python experiments/results/time-tokens/diagnose.py CKPT [CKPT ...] [--limit 40] [--json out.json]

For each checkpoint (teacher-forced on its world's test split, srwt and grounding examples):
- targets: how many time-token targets the run's training manifest holds, over how many of the 3001 tokens, and how
  many each target token got in the run (steps x clips per step x the timed tasks' share, spread over the manifest);
- readout: the LM head's first choice among the time tokens against the target (mean absolute error, the share of
  first choices at <|0.00|>), the probability of the exact target token and of any time token;
- probe: a ridge regression from the last hidden state at those positions to the target time, clips held out
  (its error against predicting the mean, and against a probe on text-side features alone: the time token's index
  in its answer and the clip's length);
- attention: the mass the predicting position puts on the frames within 0.1 s of the target, over its mass on the
  whole clip (mean over layers and heads, and the best single head), against the share those frames are of the clip
  (what attention blind to time would give).
"""

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from qa_lab.core.checkpoint import load
from qa_lab.data.manifest import read_manifest
from qa_lab.eval.harness import eval_examples
from qa_lab.prompts import tags
from qa_lab.prompts.tasks import target
from qa_lab.study.introspection import probe_times, time_readout

TIMED = ("srwt", "grounding")


def target_counts(cfg, run_dir: Path) -> dict:
    """Time-token targets in the training manifest, and how many times the run saw each (in expectation)."""
    from qa_lab.world import builder as world
    trained = [t for t in (cfg.world.tasks or cfg.data.tasks) if t in world.TASKS]
    root = world.build_world(cfg.world, cfg.world_seed, tasks=trained)
    train = read_manifest(root / "train.jsonl", [t for t in cfg.data.tasks if t in TIMED] or None)
    counts: Counter = Counter()
    for ex in train:
        if ex["task"] in TIMED:
            counts.update(t for t in tags._SPECIAL_RE.findall(target(ex)) if tags.is_time_token(t))
    all_lines = read_manifest(root / "train.jsonl", cfg.data.tasks)
    timed_lines = sum(ex["task"] in TIMED for ex in all_lines)
    mean_clip = float(np.mean([ex["_duration"] for ex in all_lines]))
    weights = cfg.data.task_weights or {}
    share = (sum(weights.get(t, 1.0) for t in cfg.data.tasks if t in TIMED) /
             max(sum(weights.get(t, 1.0) for t in cfg.data.tasks), 1e-9))
    clips_seen = cfg.trainer.max_steps * cfg.data.batch_seconds / mean_clip * share
    per_line = sum(counts.values()) / max(timed_lines, 1)
    seen = np.array(sorted(counts.values())) * clips_seen / max(timed_lines, 1)
    return {"timed_lines": timed_lines, "time_targets": sum(counts.values()), "distinct_tokens": len(counts),
            "targets_per_answer": round(per_line, 1), "timed_clips_seen": round(clips_seen),
            "targets_seen_per_token_median": round(float(np.median(seen)), 1),
            "targets_seen_per_token_p10": round(float(np.quantile(seen, 0.1)), 1),
            "top_tokens": counts.most_common(5)}


def diagnose(ckpt: str, limit: int) -> dict:
    cfg, model = load(ckpt)
    tasks = [t for t in TIMED if t in cfg.data.tasks]
    examples, _ = eval_examples(cfg, world_split="test", tasks=tasks, limit=limit)
    report = {"checkpoint": ckpt, "targets": target_counts(cfg, Path(ckpt).parent)}
    for task in tasks:
        r = time_readout(model, cfg, [ex for ex in examples if ex["task"] == task])
        err = np.abs(r["argmax"] - r["target"])
        text_side = np.stack([r["index"], r["clip_seconds"]], 1)
        report[task] = {
            "positions": int(len(r["target"])),
            "argmax_mae_s": round(float(err.mean()), 3),
            "expected_mae_s": round(float(np.abs(r["expected"] - r["target"]).mean()), 3),
            "argmax_within_0.1s": round(float((err <= 0.1).mean()), 3),
            "argmax_at_0.00": round(float((r["argmax"] == 0).mean()), 3),
            "target_at_0.00": round(float((r["target"] == 0).mean()), 3),
            "p_target": round(float(r["p_target"].mean()), 4),
            "p_any_time": round(float(r["p_times"].mean()), 3),
            "probe_hidden": probe_times(r["hidden"], r["target"], r["clip"]),
            "probe_text_side": probe_times(text_side, r["target"], r["clip"]),
            "attention_window": round(float(r["attention_window"].mean()), 3),
            "attention_window_best_head": round(float(r["attention_window_heads"].mean(0).max()), 3),
            "window_share": round(float(r["window_share"].mean()), 3),
        }
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--limit", type=int, default=40, help="test examples per task")
    ap.add_argument("--json")
    args = ap.parse_args()
    reports = []
    for ckpt in args.checkpoints:
        reports.append(diagnose(ckpt, args.limit))
        print(json.dumps(reports[-1], indent=1), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=1) + "\n")


if __name__ == "__main__":
    main()
