"""Does each task's answer use the audio? qa_lab.study.introspection.listening per task on a trained checkpoint.

    python experiments/results/listen-diagnosis/listen_per_task.py RUN_DIR [N]

RUN_DIR: an ablation run folder (runs/srwt/tiny-cpu/srwt_on/seed0); N test examples per task (default 30).
Prints, per task: answer loss with own vs swapped audio (nats/token), audio vs text embedding norms, and the attention
mass answer positions put on audio frames per LLM layer.
"""
import sys
from pathlib import Path

from qa_lab.config import from_yaml
from qa_lab.core.checkpoint import load
from qa_lab.eval import eval_examples
from qa_lab.study.introspection import listening

run = Path(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
_, model = load(run / "checkpoints" / "last.ckpt")
cfg = from_yaml(run / "recipe.yaml")
examples, _ = eval_examples(cfg, world_split="test")
for task in ("asr", "srwt", "grounding", "aqa"):
    ex = [e for e in examples if e["task"] == task][:n]
    if not ex:
        continue
    r = listening(model, cfg, ex)
    att = " ".join(f"{a:.2f}" for a in r["attention_to_audio"])
    print(f"{task:9s} loss own {r['loss_own']:.3f} swapped {r['loss_swapped']:.3f} | norms audio {r['audio_norm']:.2f} "
          f"text {r['text_norm']:.2f} | attention on audio per layer {att}", flush=True)
