"""How often beam search answers nothing: AQA on held-out validation questions at beams 1, 4 and 8.

    python experiments/results/listen-diagnosis/empty_answers.py CHECKPOINT [N_VAL] [LIMIT]

Builds the checkpoint's world again with N_VAL clips per generator in val (default 100; as tune_decoding.py) and
prints, per beam width, how many of the first LIMIT (default 60) AQA answers are empty and the exact-match accuracy.
Found on cpu-evidence: the LM head learns long runs of the CTC blank (the pad token) at the audio frames, and beam
search's length normalisation preferred an all-blank answer, which decodes as empty (section 9).
"""
import sys

from qa_lab.core.checkpoint import load
from qa_lab.eval.decode import run
from qa_lab.eval.harness import eval_examples
from qa_lab.eval.metrics.text import normalize_label
from qa_lab.prompts.tasks import target


def main():
    cfg, model = load(sys.argv[1])
    model.eval()
    n_val = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    cfg.world.n_train, cfg.world.n_val, cfg.world.n_test = 4, n_val, 4
    examples, _ = eval_examples(cfg, world_split="val", tasks=["aqa"], limit=limit)
    refs = [normalize_label(target(ex)) for ex in examples]
    for beams in (1, 4, 8):
        cfg.decode.num_beams = beams
        answers = [normalize_label(a) for a in run(model, cfg, [dict(ex) for ex in examples])]
        right = sum(a == r for a, r in zip(answers, refs))
        print(f"beam {beams}: {sum(a == '' for a in answers)} of {len(answers)} answers empty, "
              f"accuracy {right / len(answers):.3f}", flush=True)


if __name__ == "__main__":
    main()
