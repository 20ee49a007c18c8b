"""The whole-clip yardstick for grounding: the IoU of answering every grounding question with the whole clip, on
each seed's own test clips (the same clips the arms' table scores). From the repository root, after the runs:

    python experiments/results/time-tokens/positions/whole_clip.py
"""
import json
import soundfile as sf
from qa_lab.config import load_config
from qa_lab.eval import metrics as M
from qa_lab.prompts import tags
from qa_lab.world.builder import world_dir
for seed in (0, 1, 2):
    run = f"runs/time_positions/tiny-cpu/time_positions/seed{seed}"
    cfg = load_config(f"{run}/config.yaml")
    w = None
    for tasks in (None, list(cfg.world.tasks)):
        d = world_dir(cfg.world, cfg.world.seed if cfg.world.seed is not None else cfg.seed, tasks)
        if d.is_dir():
            w = d
    g = [p for p in map(json.loads, open(f"{run}/eval/world-test/predictions.jsonl")) if p["task"] == "grounding"]
    whole = [M.segment_iou([list(s) for s in tags.parse_spans(p["reference"])], [[0.0, sf.info(f"{w}/{p['audio']}").duration]])
             for p in g]
    print(seed, w, len(g), "whole-clip IoU %.3f" % (sum(whole) / len(whole)))
