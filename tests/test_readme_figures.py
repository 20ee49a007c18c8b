"""The headline figures in README.md and docs/ are the committed results' figures: a stale figure fails here.

Each claim is a sentence as the page writes it, with `{}` where a figure goes, and where each figure comes from: a
committed results.csv (experiments/results/<folder>/), an arm, an eval set, a task and a metric, read as the mean
over seeds or one end of its 95 % CI (Student t, as `qa-lab ablate` writes it), or one seed's value."""

import csv
from pathlib import Path

import pytest

from qa_lab.study import stats

ROOT = Path(__file__).resolve().parents[1]
TINY, EVIDENCE, TAGS, MIX = "srwt-tiny-cpu-seeds", "srwt-cpu-evidence", "tags-tiny-cpu", "interference-tiny-cpu"
TAGS_BEFORE, MATCHED = "tags-tiny-cpu/before-lid-fix-batch-loss", "interference-matched-tiny-cpu"
LONG, EXAMPLES = "time-tokens/steps-4000", "time-tokens/examples-loss"
POINTER = "time-tokens/pointer-4000"
LLM, FRAMES = "world-test", "world-test.times-ctc"
POINTER3 = "time-tokens/pointer-4000/three-seeds"  # seeds 0-2, grounding under the timestamp rule
# its grounding (mean and CI per arm) and srwt_on's SRWT WER, claimed by the README and docs/ablations alike
POINTER3_GROUNDING = [(POINTER3, arm, LLM, "grounding", "iou", w, "pct")
                      for arm in ("srwt_on", "srwt_off") for w in ("mean", "lo", "hi")]
POINTER3_SRWT_WER = [(POINTER3, "srwt_on", LLM, "srwt", "srwt_wer", "mean", "pct")]
SPACES, JOINT = "srwt-spaces", "world-test.ctc_timed-True"  # SRWT spelt as transcripts; SRWT decoded with the CTC
# spaced SRWT decoded jointly (mean, CI) against the paper's spelling (mean), claimed by the README and docs alike
SPACES_JOINT = [*[(SPACES, "srwt_on_spaced", JOINT, "srwt", "srwt_wer", w, "pct") for w in ("mean", "lo", "hi")],
                (SPACES, "srwt_on", JOINT, "srwt", "srwt_wer", "mean", "pct")]
# the 4000-step time-pointer runs' grounding (srwt_on, srwt_off) against the plain recipe's srwt_on at the same step
POINTER_VS_PLAIN = [(POINTER, "srwt_on", LLM, "grounding", "iou", "seed0", "pct"),
                    (POINTER, "srwt_off", LLM, "grounding", "iou", "seed0", "pct"),
                    (LONG, "srwt_on", LLM, "grounding", "iou", "seed0", "pct")]

# (page, sentence, [(results folder, arm, eval, task, metric, what, format)]); what: mean | lo | hi | seed<k>
CLAIMS = [
    ("README.md", "ASR WER is **{} %** (srwt_on) and **{} %** (srwt_off)",  # make demo's seed
     [(TINY, "srwt_on", LLM, "asr", "wer[en]", "seed0", "pct"), (TINY, "srwt_off", LLM, "asr", "wer[en]", "seed0", "pct")]),
    ("README.md", "over three seeds, each with its own test world, {} % [{}, {}] and {} % [{}, {}]",
     [(TINY, arm, LLM, "asr", "wer[en]", w, "pct") for arm in ("srwt_on", "srwt_off") for w in ("mean", "lo", "hi")]),
    ("README.md", "grounding IoU is\n  {} % (srwt_on)", [(TINY, "srwt_on", LLM, "grounding", "iou", "seed0", "pct")]),
    ("README.md", "IoU is **{} %** (srwt_on; {} % srwt_off",
     [(TINY, "srwt_on", FRAMES, "grounding", "iou", "seed0", "pct"),
      (TINY, "srwt_off", FRAMES, "grounding", "iou", "seed0", "pct")]),
    ("README.md", "SRWT AAS is **{} s**", [(TINY, "srwt_on", FRAMES, "srwt", "aas", "seed0", "s")]),
    ("README.md", "srwt_on's SRWT answers read {} % WER", [(TINY, "srwt_on", LLM, "srwt", "srwt_wer", "mean", "pct")]),
    ("docs/ablations.md", "SRWT answers at **{} % WER**, 2 points under a constant answer, so the treatment did not take; "
     "the LLM's grounding\nIoU ({} against {} %), AQA, temporal AQA and ASR WER ({} against {} %)",
     [(TINY, "srwt_on", LLM, "srwt", "srwt_wer", "mean", "pct"), (TINY, "srwt_on", LLM, "grounding", "iou", "mean", "pct"),
      (TINY, "srwt_off", LLM, "grounding", "iou", "mean", "pct"), (TINY, "srwt_on", LLM, "asr", "wer[en]", "mean", "pct"),
      (TINY, "srwt_off", LLM, "asr", "wer[en]", "mean", "pct")]),
    ("docs/ablations.md", "**ASR WER {} % [{}, {}]** (srwt_on; {} /\n{} / {} % per seed) and {} % [{}, {}] (srwt_off)",
     [*[(EVIDENCE, "srwt_on", LLM, "asr", "wer[en]", w, "pct") for w in ("mean", "lo", "hi", "seed0", "seed1", "seed2")],
      *[(EVIDENCE, "srwt_off", LLM, "asr", "wer[en]", w, "pct") for w in ("mean", "lo", "hi")]]),
    ("docs/ablations.md", "**IoU {} % [{}, {}]**",
     [(EVIDENCE, "srwt_on", FRAMES, "grounding", "iou", w, "pct") for w in ("mean", "lo", "hi")]),
    ("docs/ablations.md", "SRWT word times are {} s off on matched words\n(srwt_on, whose SRWT answers read {} % WER), "
     "and grounding IoU is {} % (srwt_on) against {} % (srwt_off)",
     [(EVIDENCE, "srwt_on", LLM, "srwt", "aas", "mean", "s"), (EVIDENCE, "srwt_on", LLM, "srwt", "srwt_wer", "mean", "pct"),
      (EVIDENCE, "srwt_on", LLM, "grounding", "iou", "mean", "pct"),
      (EVIDENCE, "srwt_off", LLM, "grounding", "iou", "mean", "pct")]),
    ("docs/ablations.md", "**AAS {} s [{}, {}]**",
     [(EVIDENCE, "srwt_on", FRAMES, "srwt", "aas", w, "s") for w in ("mean", "lo", "hi")]),
    ("README.md", "(hierarchical language ID\n  {} %, every seed)", [(TAGS, "hierarchical", LLM, "lid", "accuracy", "mean", "pct")]),
    ("docs/ablations.md", "srwt_on's SRWT answers read {} %\nWER with 90 of 306 words matched, while its grounding IoU "
     "stays at the whole-clip answer's ({} %",
     [(LONG, "srwt_on", LLM, "srwt", "srwt_wer", "seed0", "pct"), (LONG, "srwt_on", LLM, "grounding", "iou", "seed0", "pct")]),
    ("experiments/results/time-tokens/README.md", "| srwt_on | grounding IoU | {} % | {} % |",
     [(TINY, "srwt_on", LLM, "grounding", "iou", "mean", "pct"),
      (EXAMPLES, "srwt_on", LLM, "grounding", "iou", "mean", "pct")]),
    ("experiments/results/time-tokens/README.md", "| grounding IoU | {} % | {} % | **{} %** | {} % |",
     [(LONG, "srwt_on", LLM, "grounding", "iou", "seed0", "pct"), (LONG, "srwt_off", LLM, "grounding", "iou", "seed0", "pct"),
      (POINTER, "srwt_on", LLM, "grounding", "iou", "seed0", "pct"),
      (POINTER, "srwt_off", LLM, "grounding", "iou", "seed0", "pct")]),
    ("experiments/results/time-tokens/README.md", "| SRWT WER (matched words of 306) | {} % (90) | — | {} % (32) | — |",
     [(LONG, "srwt_on", LLM, "srwt", "srwt_wer", "seed0", "pct"), (POINTER, "srwt_on", LLM, "srwt", "srwt_wer", "seed0", "pct")]),
    ("README.md", "srwt_on grounds the queried word at IoU {} % [{}, {}] against {} % [{}, {}] for srwt_off",
     POINTER3_GROUNDING),
    ("README.md", "answers read {} % WER.", POINTER3_SRWT_WER),
    ("README.md", "srwt_on's SRWT answers read **{} % [{}, {}]** WER against {} %\n  for the paper's spelling",
     SPACES_JOINT),
    ("docs/ablations.md", "SRWT decoded jointly reads\n**{} % [{}, {}]** WER against {} % [{}, {}] for the paper's spelling",
     [*SPACES_JOINT[:3], *[(SPACES, "srwt_on", JOINT, "srwt", "srwt_wer", w, "pct") for w in ("mean", "lo", "hi")]]),
    ("docs/command-line.md", "SRWT WER {} % against {} % for the paper's\n  spelling", [SPACES_JOINT[0], SPACES_JOINT[3]]),
    ("experiments/results/srwt-spaces/README.md",
     "| joint with the frames' CTC (`decode.ctc_timed`) | SRWT WER | {} % [{}, {}] | **{} % [{}, {}]** |",
     [(SPACES, arm, JOINT, "srwt", "srwt_wer", w, "pct") for arm in ("srwt_on", "srwt_on_spaced")
      for w in ("mean", "lo", "hi")]),
    ("experiments/results/srwt-spaces/README.md", "spaced SRWT decoded jointly reads {} / {} / {} % WER, against {} / {} / {} %",
     [(SPACES, arm, JOINT, "srwt", "srwt_wer", f"seed{k}", "pct") for arm in ("srwt_on_spaced", "srwt_on")
      for k in range(3)]),
    ("docs/ablations.md", "srwt_on grounds at **{} % [{}, {}]** and\nsrwt_off at {} % [{}, {}], every seed",
     POINTER3_GROUNDING),
    ("docs/ablations.md", "the treatment did not take (SRWT WER {} %).",
     POINTER3_SRWT_WER),
    ("experiments/results/time-tokens/README.md", "| grounding IoU | **{} % [{}, {}]** ({} / {} / {}) | {} % [{}, {}] ({} / {} / {}) |",
     [(POINTER3, arm, LLM, "grounding", "iou", w, "pct") for arm in ("srwt_on", "srwt_off")
      for w in ("mean", "lo", "hi", "seed0", "seed1", "seed2")]),
    ("experiments/results/time-tokens/README.md", "| SRWT WER | {} % [{}, {}] | 100 % (never trained)",
     [(POINTER3, "srwt_on", LLM, "srwt", "srwt_wer", w, "pct") for w in ("mean", "lo", "hi")]),
    ("experiments/results/time-tokens/README.md", "grounding IoU **{} %** (srwt_on) and {} % (srwt_off), SRWT WER {} %",
     [(POINTER, "srwt_on", LLM, "grounding", "iou", "seed1", "pct"), (POINTER, "srwt_off", LLM, "grounding", "iou", "seed1", "pct"),
      (POINTER, "srwt_on", LLM, "srwt", "srwt_wer", "seed1", "pct")]),
    ("docs/ablations.md", "the pointer takes srwt_on's own\ngrounding IoU to {} %, against {} % for srwt_off and {} % for",
     POINTER_VS_PLAIN),
    ("experiments/results/time-tokens/README.md", "| 4000 | {} % | {} % | {} % |",
     [(LONG, "srwt_on", LLM, "grounding", "iou", "seed0", "pct"), (LONG, "srwt_off", LLM, "grounding", "iou", "seed0", "pct"),
      (LONG, "srwt_on", LLM, "srwt", "srwt_wer", "seed0", "pct")]),
    ("docs/ablations.md", "(**{} %**, against {} % flat and {} % natural)",
     [(TAGS, arm, LLM, "lid", "accuracy", "mean", "pct") for arm in ("hierarchical", "flat", "natural")]),
    ("experiments/results/tags-tiny-cpu/before-lid-fix-batch-loss/README.md",
     "Hierarchical LID reads {} % against {} % (flat)\nand {} % (natural)",
     [(TAGS_BEFORE, arm, LLM, "lid", "accuracy", "mean", "pct") for arm in ("hierarchical", "flat", "natural")]),
    ("README.md", "(English ASR WER {} % alone against {} % mixed, the one difference with a CI clear of zero);\n  "
     "event accuracy reads {} % alone against {} % mixed",
     [(MATCHED, "speech", LLM, "asr", "wer[en]", "mean", "pct"), (MATCHED, "mixture", LLM, "asr", "wer[en]", "mean", "pct"),
      (MATCHED, "sound", LLM, "event", "accuracy", "mean", "pct"),
      (MATCHED, "mixture", LLM, "event", "accuracy", "mean", "pct")]),
    ("docs/ablations.md", "(English ASR WER **{} %** against {} %, CI of the paired difference\n  clear of zero); "
     "event accuracy reads {} % alone against {} % in the mixture",
     [(MATCHED, "speech", LLM, "asr", "wer[en]", "mean", "pct"), (MATCHED, "mixture", LLM, "asr", "wer[en]", "mean", "pct"),
      (MATCHED, "sound", LLM, "event", "accuracy", "mean", "pct"),
      (MATCHED, "mixture", LLM, "event", "accuracy", "mean", "pct")]),
    ("experiments/results/interference-matched-tiny-cpu/README.md", "| ASR WER (en) | 96.3 % | {} % | **{} %** (speech)",
     [(MATCHED, "mixture", LLM, "asr", "wer[en]", "mean", "pct"), (MATCHED, "speech", LLM, "asr", "wer[en]", "mean", "pct")]),
    ("docs/ablations.md", "(English ASR WER **{} %** against {} %)",
     [(MIX, "speech", LLM, "asr", "wer[en]", "mean", "pct"), (MIX, "mixture", LLM, "asr", "wer[en]", "mean", "pct")]),
    ("experiments/results/tags-tiny-cpu/before-lid-fix-batch-loss/README.md", "(English WER {} / {} / {} %",
     [(TAGS_BEFORE, arm, LLM, "asr", "wer[en]", "mean", "pct") for arm in ("hierarchical", "flat", "natural")]),
    ("experiments/results/tags-tiny-cpu/README.md", "(English WER {} / {} / {} %\nagainst",
     [(TAGS, arm, LLM, "asr", "wer[en]", "mean", "pct") for arm in ("hierarchical", "flat", "natural")]),
    ("experiments/results/tags-tiny-cpu/README.md", "learnt on every seed: LID (hierarchical {} %, flat {} %; constant 25.6 %)",
     [(TAGS, arm, LLM, "lid", "accuracy", "mean", "pct") for arm in ("hierarchical", "flat")]),
]


def figure(folder: str, arm: str, ev: str, task: str, metric: str, what: str) -> float:
    rows = list(csv.DictReader((ROOT / "experiments" / "results" / folder / "results.csv").open()))
    by_seed = {int(r["seed"]): float(r["value"]) for r in rows
               if (r["arm"], r["eval"], r["task"], r["metric"]) == (arm, ev, task, metric)}
    assert by_seed, f"{folder}/results.csv has no {arm} {ev} {task}/{metric}"
    if what.startswith("seed"):
        return by_seed[int(what[4:])]
    mean, lo, hi = stats.mean_ci([by_seed[k] for k in sorted(by_seed)])
    return {"mean": mean, "lo": lo, "hi": hi}[what]


@pytest.mark.parametrize("page, sentence, sources", CLAIMS, ids=[f"{c[0]}:{c[1][:30]}" for c in CLAIMS])
def test_a_headline_figure_is_the_committed_results_figure(page, sentence, sources):
    fmt = {"pct": lambda v: f"{100 * v:.1f}", "s": lambda v: f"{v:.3f}"}
    expected = sentence.format(*(fmt[src[6]](figure(*src[:6])) for src in sources))
    assert expected in (ROOT / page).read_text(), f"{page} should say: {expected!r} (from the committed results)"


def test_a_stale_figure_is_caught():
    page, sentence, sources = CLAIMS[0]
    stale = sentence.format(*(f"{100 * figure(*s[:6]) + 1.0:.1f}" for s in sources))
    assert stale not in (ROOT / page).read_text()
