"""Pick the joint CTC / LM decoding weight and beam on held-out validation sentences, never on the test split.

    python experiments/results/listen-diagnosis/tune_decoding.py CHECKPOINT [N_VAL] [WEIGHTS] [BEAMS]

The world's val split has sentences training never saw, spoken by training voices (the test split has new voices
too). A run's own val split is small (cpu-evidence: 8 clips), so this builds the checkpoint's world again with
N_VAL clips per generator in val (default 100; train and test are cut to 4, as only val is read) and prints the ASR
WER of the frames' greedy CTC reading and of the answers at each weight (default 0.3,0.4,0.5,0.6,0.7) and beam
(default 4).
"""
import sys
import time

from qa_lab.core.checkpoint import load
from qa_lab.eval.decode import run
from qa_lab.eval.harness import eval_examples
from qa_lab.eval.metrics import word_error_rate
from qa_lab.prompts.tasks import target
from qa_lab.study.introspection import frame_transcripts


def main():
    cfg, model = load(sys.argv[1])
    model.eval()
    n_val = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    weights = [float(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else [0.3, 0.4, 0.5, 0.6, 0.7]
    beams = [int(x) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 else [4]
    cfg.world.n_train, cfg.world.n_val, cfg.world.n_test = 4, n_val, 4
    examples, _ = eval_examples(cfg, world_split="val", tasks=["asr"])
    refs = [target(ex) for ex in examples]
    heard = frame_transcripts(model, cfg, examples)
    print(f"{sys.argv[1]}: {len(examples)} val clips, frame (CTC) WER {word_error_rate(refs, heard):.4f}", flush=True)
    for beams_ in beams:
        for w in weights:
            cfg.decode.num_beams, cfg.decode.ctc_weight = beams_, w
            start = time.monotonic()
            answers = run(model, cfg, [dict(ex) for ex in examples])
            print(f"beam {beams_} weight {w}: answer WER {word_error_rate(refs, answers):.4f} "
                  f"({time.monotonic() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
