"""What a checkpoint hears vs what it says, on the world's held-out English ASR clips.

    python experiments/results/listen-diagnosis/frames_vs_answers.py CHECKPOINT [N_CLIPS] [WEIGHTS]

Prints the WER of the answers decoded as the checkpoint's config says (`decode.num_beams`, `decode.ctc_weight`: what
`qa-lab eval` scores; greedy LM-only for configs that set neither) and of the frames' greedy CTC reading
(qa_lab.study.introspection.frame_transcripts), then a few clips side by side. WEIGHTS (e.g. 0.3,0.5): also the WER of
greedy joint CTC / LM decoding at each `decode.ctc_weight`.
"""
import sys

from qa_lab.core.checkpoint import load
from qa_lab.eval.decode import run
from qa_lab.eval.harness import eval_examples
from qa_lab.eval.metrics import word_error_rate
from qa_lab.prompts.tasks import target
from qa_lab.study.introspection import frame_transcripts


def main():
    cfg, model = load(sys.argv[1])
    model.eval()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 75
    examples, _ = eval_examples(cfg, world_split="test", limit=n)
    examples = [ex for ex in examples if ex["task"] == "asr"]
    refs = [target(ex) for ex in examples]
    answers = run(model, cfg, [dict(ex) for ex in examples])
    heard = frame_transcripts(model, cfg, examples)
    print(f"{len(examples)} clips: answer WER {word_error_rate(refs, answers):.3f}, "
          f"frame (CTC) WER {word_error_rate(refs, heard):.3f}")
    joint = {}
    for w in (float(x) for x in sys.argv[3].split(",")) if len(sys.argv) > 3 else ():
        cfg.decode.ctc_weight = w
        joint[w] = run(model, cfg, [dict(ex) for ex in examples])
        print(f"joint CTC / LM decoding, weight {w}: answer WER {word_error_rate(refs, joint[w]):.3f}")
    for r, a, h in list(zip(refs, answers, heard))[:6]:
        print(f"ref    {r}\nanswer {a}\nframes {h}\n")


if __name__ == "__main__":
    main()
