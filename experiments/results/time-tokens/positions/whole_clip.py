"""The whole-clip yardstick for grounding: the IoU of answering every grounding question with the whole clip, on
each run's own test clips (the clips its world-test evaluation scored). From the repository root, after the runs:

    python experiments/results/time-tokens/positions/whole_clip.py [RUN_DIR ...]

(default: the three seeds of runs/time_positions/tiny-cpu/time_positions).
"""
import json
import sys

import soundfile as sf

from qa_lab.config import load_config
from qa_lab.eval import metrics as M
from qa_lab.prompts import tags
from qa_lab.world.builder import world_dir

runs = sys.argv[1:] or [f"runs/time_positions/tiny-cpu/time_positions/seed{s}" for s in (0, 1, 2)]
for run in runs:
    cfg = load_config(f"{run}/config.yaml")
    seed = cfg.world.seed if cfg.world.seed is not None else cfg.seed
    world = next(d for d in (world_dir(cfg.world, seed, t) for t in (None, list(cfg.world.tasks))) if d.is_dir())
    preds = [p for p in map(json.loads, open(f"{run}/eval/world-test/predictions.jsonl")) if p["task"] == "grounding"]
    whole = [M.segment_iou([list(s) for s in tags.parse_spans(p["reference"])],
                           [[0.0, sf.info(f"{world}/{p['audio']}").duration]]) for p in preds]
    print(f"{run}: {len(preds)} grounding clips of {world}, whole-clip IoU {sum(whole) / len(whole):.3f}")
