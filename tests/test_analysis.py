"""Task-interference probes: gradient cosines with known answers (toy model and the tiny AudioLLM), the
GradientConflict callback in a real Trainer, transfer matrices, answer forms and tag confusion, and their plots."""

import csv
import json
import math

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn as nn

from qa_lab.prompts import tags
from qa_lab.study.interference import answer_form, confusion_outputs, flatten_metrics, gradient_cosines, headline_metrics, read_grad_conflict, tag_confusion, task_gradients, transfer_matrix
from qa_lab.study.introspection import attention_to_audio, audio_frames, batch_for, output_tokens
from qa_lab.study.plots import (plot_grad_conflict, plot_learning_curves, plot_tag_confusion, plot_task_losses,
                                plot_transfer_matrix)
from qa_lab.train.callbacks import GradientConflict


class Toy(nn.Module):
    """AudioLLM's forward contract: per example loss_sum_i = sign_i * (x_i . w)^2 over n_i 'tokens'."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([1.0, 2.0, -1.0, 0.5]))
        self.frozen = nn.Parameter(torch.ones(4), requires_grad=False)

    def forward(self, batch):
        z = batch["x"] @ (self.w * self.frozen)  # (B,)
        loss_sum = batch["sign"] * z ** 2
        return {"loss": loss_sum.sum() / batch["n"].sum(), "loss_sum": loss_sum, "n_tokens": batch["n"]}


def _batch(rows):
    """rows: (task, x, sign, n_tokens)."""
    return {"tasks": [r[0] for r in rows], "x": torch.tensor([r[1] for r in rows], dtype=torch.float),
            "sign": torch.tensor([float(r[2]) for r in rows]), "n": torch.tensor([r[3] for r in rows])}


def _cos(model, rows):
    names, cos = gradient_cosines(task_gradients(model, _batch(rows)))
    return names, cos


def test_task_gradient_is_the_task_token_mean():
    toy = Toy()
    # asr: z = (1, 2) over 2 + 3 tokens -> (2*1*e0 + 2*2*e1) / 5, whatever srwt's 7 tokens do to the batch mean
    g = task_gradients(toy, _batch([("asr", [1, 0, 0, 0], 1, 2), ("srwt", [0, 0, 1, 0], 1, 7),
                                    ("asr", [0, 1, 0, 0], 1, 3)]))
    assert sorted(g) == ["asr", "srwt"]
    assert torch.allclose(g["asr"], torch.tensor([0.4, 0.8, 0.0, 0.0]))
    assert torch.allclose(g["srwt"], torch.tensor([0.0, 0.0, -2 / 7, 0.0]))  # z = w2 = -1: 2 z e2 / 7
    assert g["asr"].shape == (4,)  # only the trainable w, not the frozen vector


def test_cosines_known_answers():
    toy = Toy()
    x = [[1, 0, 2, 0], [0, 1, 0, 1]]
    same = [("a", x[0], 1, 4), ("a", x[1], 1, 4), ("b", x[0], 1, 9), ("b", x[1], 1, 9)]  # identical per-example losses
    names, cos = _cos(toy, same)
    assert names == ["a", "b"] and cos.shape == (2, 2)
    assert cos == pytest.approx(np.ones((2, 2)), abs=1e-9)
    opposite = [("a", x[0], 1, 3), ("a", x[1], 1, 3), ("b", x[0], -1, 3), ("b", x[1], -1, 3)]  # loss_b = -loss_a
    assert _cos(toy, opposite)[1][0, 1] == pytest.approx(-1.0, abs=1e-9)
    disjoint = [("a", [1, 1, 0, 0], 1, 1), ("b", [0, 0, 1, 1], 1, 1)]  # the tasks touch different parameters
    assert _cos(toy, disjoint)[1][0, 1] == pytest.approx(0.0, abs=1e-12)
    # e0 vs e0 + e1 direction: grads 2 z x with z = 1 and z = 3 -> cosine 1/sqrt(2)
    assert _cos(toy, [("a", [1, 0, 0, 0], 1, 1), ("b", [1, 1, 0, 0], 1, 1)])[1][0, 1] == pytest.approx(2 ** -0.5)
    names, cos = gradient_cosines({"a": torch.tensor([1.0, 0.0]), "z": torch.zeros(2)})
    assert cos[0, 0] == 1 and np.isnan(cos[0, 1]) and np.isnan(cos[1, 1])  # no direction for a zero gradient


def test_probe_leaves_weights_and_grads_alone():
    toy = Toy()
    batch = _batch([("a", [1, 0, 2, 0], 1, 2), ("b", [0, 1, 0, 1], 1, 2)])
    before = toy.w.detach().clone()
    task_gradients(toy, batch)
    assert toy.w.grad is None and toy.frozen.grad is None
    toy(batch)["loss"].backward()  # mid gradient accumulation
    grad = toy.w.grad.clone()
    with torch.no_grad():  # also works where autograd is off (validation, notebooks)
        task_gradients(toy, batch)
    assert torch.equal(toy.w.grad, grad) and torch.equal(toy.w.detach(), before)
    with pytest.raises(ValueError, match="3 entries"):
        task_gradients(toy, dict(batch, tasks=["a", "b", "a"]))


def test_tiny_audio_llm_cosines_for_asr_and_srwt(corpus):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.data.dataset import AudioTextDataset, Collator
    from qa_lab.data.manifest import read_manifest

    model = build_model(load_config("base", ["smoke=true", "stage=full"]))
    exs = read_manifest(corpus / "train.jsonl")
    exs = [e for e in exs if e["task"] == "asr"][:2] + [e for e in exs if e["task"] == "srwt"][:2]
    ds = AudioTextDataset(exs, model.tokenizer)
    batch = Collator(model.tokenizer)([ds[i] for i in range(len(ds))])
    weight = model.projector.weight.detach().clone()
    grads = task_gradients(model, batch)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sorted(grads) == ["asr", "srwt"] and all(g.shape == (n_trainable,) for g in grads.values())
    names, cos = gradient_cosines(grads)
    assert np.isfinite(cos).all() and (np.abs(cos) <= 1).all()
    assert cos[0, 0] == pytest.approx(1.0) and cos[0, 1] == cos[1, 0] and abs(cos[0, 1]) < 0.999
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(model.projector.weight, weight)


class ToyModule(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.model = Toy()

    def training_step(self, batch, batch_idx):
        return self.model(batch)["loss"]

    def configure_optimizers(self):
        return torch.optim.SGD([p for p in self.parameters() if p.requires_grad], lr=0.01)


def _fit(tmp_path, callbacks):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batches = [_batch([(t, rng.normal(size=4).tolist(), 1, 3) for t in ("asr", "srwt", "aac", "asr")])
               for _ in range(10)]
    module = ToyModule()
    logger = L.pytorch.loggers.CSVLogger(tmp_path, name="", version="logs")
    trainer = L.Trainer(max_steps=5, accumulate_grad_batches=2, accelerator="cpu", devices=1,
                        default_root_dir=tmp_path, logger=logger,
                        callbacks=callbacks, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(module, torch.utils.data.DataLoader(batches, batch_size=None))
    return trainer, module


def test_gradient_conflict_callback_in_a_trainer(tmp_path):
    trainer, module = _fit(tmp_path / "probed", [GradientConflict(every_n_steps=2)])
    path = tmp_path / "probed" / "logs" / "grad_conflict.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 2, 4]  # once per optimizer step despite 2 batches per step
    records = read_grad_conflict(tmp_path / "probed")
    assert records[0]["tasks"] == ["aac", "asr", "srwt"] and records[0]["cosine"].shape == (3, 3)
    assert np.allclose(np.diag(records[-1]["cosine"]), 1.0) and len(records[0]["norm"]) == 3
    assert "probe/grad_cos/aac/asr" in trainer.logged_metrics
    assert trainer.logged_metrics["probe/grad_cos/asr/srwt"] == pytest.approx(records[-1]["cosine"][1, 2], abs=1e-6)
    with open(tmp_path / "probed" / "logs" / "metrics.csv") as f:
        assert "probe/grad_cos/asr/srwt" in next(csv.reader(f))
    _, plain = _fit(tmp_path / "plain", [])
    assert torch.equal(module.model.w, plain.model.w)  # the probe does not change training
    with pytest.raises(FileNotFoundError, match="GradientConflict"):
        read_grad_conflict(tmp_path / "plain")


def test_transfer_matrix_relative_gains():
    single = {"asr": {"asr/wer": 0.20}, "srwt": {"srwt/aas": 0.10}, "aac": {"aac/cider_d": 0.5}}
    multi = {"asr only": {"asr/wer": 0.20}, "asr+srwt": {"asr/wer": 0.18, "srwt/aas": 0.12},
             "all": {"asr/wer": 0.22, "srwt/aas": 0.09, "aac/cider_d": 0.6}}
    hib = {"asr/wer": False, "srwt/aas": False, "aac/cider_d": True}
    rows, cols, m = transfer_matrix(single, multi, hib)
    assert rows == ["asr only", "asr+srwt", "all"] and cols == ["asr/wer", "srwt/aas", "aac/cider_d"]
    expected = np.array([[0.0, np.nan, np.nan], [0.1, -0.2, np.nan], [-0.1, 0.1, 0.2]])  # + = mixture helps
    np.testing.assert_allclose(m, expected, atol=1e-12)
    with pytest.raises(ValueError, match="'srwt/wer' is in no single-task run"):
        transfer_matrix(single, multi, {"srwt/wer": False})
    with pytest.raises(ValueError, match="in the single-task runs"):
        transfer_matrix({"a": {"wer": 0.1}, "b": {"wer": 0.2}}, multi, {"wer": False})
    flat = flatten_metrics({"asr": {"wer[en]": {"value": 0.2, "ci": [0.1, 0.3]}, "n": 5, "format_errors": 0}})
    assert flat == {"asr/wer[en]": 0.2}


SRWT = "<|0.00|>mister<|0.41|>quilter<|0.87|>"
EVENTS = "<|0.50|>beep<|0.80|><|1.00|>dog bark<|2.50|>"
ONE_EVENT = "<|0.50|>beep<|0.80|>"
SPANS = "<|1.20|><|1.55|><|delim|><|3.10|><|3.40|>"
NOTE = tags.format_note({"pitch": 60, "velocity": 100, "instrument": "organ"})


@pytest.mark.parametrize("text, candidates, form", [
    (SRWT, ["asr", "srwt"], "srwt"),
    ("mister quilter", ["srwt", "asr"], "asr"),
    (EVENTS, ["asr", "srwt", "sed"], "sed"),
    (ONE_EVENT, ["srwt", "sed"], "srwt"),  # one timed item is both forms: the caller's order decides
    (ONE_EVENT, ["sed", "srwt"], "sed"),
    (SPANS, ["asr", "srwt", "sed", "grounding"], "grounding"),
    (NOTE, ["asr", "instrument", "note_analysis"], "note_analysis"),
    ("3", ["aqa", "count"], "count"),
    ("three", ["count", "asr"], "asr"),  # number words are plain text
    ("organ", ["instrument", "asr"], "instrument"),  # plain-text tasks: the first one listed
    ("", ["asr", "srwt"], None),
    ("<|en|>hello", ["asr", "srwt"], None),  # stray tag: neither plain text nor timed
    ("<|0.00|>", ["srwt"], None),  # no words
    ("hello", ["srwt", "sed"], None),
])
def test_answer_form(text, candidates, form):
    assert answer_form(text, candidates) == form


def test_tag_confusion_rows_are_rates():
    prompted = ["asr", "asr", "asr", "srwt", "srwt", "sed", "sed", "aac"]
    outputs = ["hello there", SRWT, "a dog", SRWT, "mister quilter", ONE_EVENT, "", "a dog barks"]
    rows, cols, m = tag_confusion(prompted, outputs, ["asr", "srwt", "sed"])
    assert rows == ["asr", "srwt", "sed", "aac"] and cols == ["asr", "srwt", "sed", "other"]
    np.testing.assert_allclose(m, [[2 / 3, 1 / 3, 0, 0],  # an SRWT answer to an asr prompt counts as srwt
                                   [1 / 2, 1 / 2, 0, 0],
                                   [0, 0, 1 / 2, 1 / 2],  # one event asked for as sed is sed, not srwt
                                   [1, 0, 0, 0]])  # aac is not a candidate: its plain text is the asr form
    with pytest.raises(ValueError, match="8 prompted tasks but 7 outputs"):
        tag_confusion(prompted, outputs[:-1], ["asr"])


def _records():
    rng = np.random.default_rng(0)
    out = []
    for step in (0, 10, 20, 30, 40):
        c = rng.uniform(-1, 1, (3, 3))
        c = (c + c.T) / 2
        np.fill_diagonal(c, 1)
        out.append({"step": step, "tasks": ["aac", "asr", "srwt"], "cosine": c})
    return out


def _images(fig):
    return sum(len(ax.images) for ax in fig.axes)


def test_plot_grad_conflict():
    fig = plot_grad_conflict(_records())
    assert _images(fig) == 4 and len(fig.axes) == 4 + 1 + 1  # heat maps, the line panel, one shared colour bar
    assert all(im.get_clim() == (-1, 1) for ax in fig.axes for im in ax.images)
    assert len(fig.axes[4].get_legend().get_texts()) == 3  # one line per pair
    assert _images(plot_grad_conflict(_records(), steps=[0, 40])) == 2
    with pytest.raises(ValueError, match="no record at steps \\[5\\]"):
        plot_grad_conflict(_records(), steps=[5])


def test_plot_transfer_matrix_and_tag_confusion():
    fig = plot_transfer_matrix(["asr+srwt", "all"], ["asr/wer", "srwt/aas"], [[0.1, -0.3], [np.nan, 0.05]])
    (im,) = fig.axes[0].images
    assert im.get_clim() == (-0.3, 0.3)  # centred on 0
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["+10.0 %", "+5.0 %", "-30.0 %", "n/a"]
    fig = plot_tag_confusion(["asr", "srwt"], ["asr", "srwt", "other"], [[0.9, 0.1, 0], [0.5, 0.5, 0]], "tags")
    assert _images(fig) == 1 and len(fig.axes[0].texts) == 6 and fig.axes[0].get_title() == "tags"


def test_plot_task_losses(tmp_path):
    runs = {}
    for arm, tasks in (("asr only", ["asr"]), ("asr+srwt", ["asr", "srwt"])):
        run = tmp_path / arm.replace("+", "_").replace(" ", "_")
        (run / "logs").mkdir(parents=True)
        keys = ["train/loss", "val/loss"] + [f"val/{t}/loss" for t in tasks]
        with open(run / "logs" / "metrics.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", "step", *keys])
            for step in (9, 19, 29):
                w.writerow([0, step, *[f"{3 / (step + 1) + k:.3f}" for k in range(len(keys))]])
        runs[arm] = run
    fig = plot_task_losses(runs)
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["asr only", "asr+srwt"]
    assert [len(ax.lines) for ax in fig.axes] == [2, 3]  # tasks plus the overall val/loss
    assert fig.axes[0].lines[0].get_color() == fig.axes[1].lines[0].get_color()  # asr keeps its colour
    assert not math.isnan(fig.axes[1].lines[1].get_ydata()[0])


def test_plot_learning_curves_one_line_per_run_coloured_by_arm(tmp_path):
    runs = {}
    for label in ("srwt_on seed 0", "srwt_on seed 1", "srwt_off seed 0"):
        run = tmp_path / label.replace(" ", "_")
        (run / "logs").mkdir(parents=True)
        with open(run / "logs" / "metrics.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", "step", "val/asr/wer[en]", "train/loss"])
            for step in (99, 199):
                w.writerow([0, step, f"{1 - step / 400:.3f}", ""])
        runs[label] = run
    fig = plot_learning_curves(runs, ["asr/wer[en]", "grounding/iou"])
    wer, iou = fig.axes[:2]
    assert len(wer.lines) == 3 and list(wer.lines[0].get_xdata()) == [99, 199]
    assert wer.lines[0].get_color() == wer.lines[1].get_color() != wer.lines[2].get_color()
    assert [t.get_text() for t in wer.get_legend().get_texts()] == ["srwt_on", "srwt_off"]
    assert not iou.lines and "not logged" in [t.get_text() for t in iou.texts]


# --- confusion_outputs, headline_metrics, and one example inside the model (06_explore_model) -------------------

@pytest.fixture(scope="module")
def tiny(corpus):
    """A random tiny AudioLLM, its config and two asr lines of different clips of the session corpus."""
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.data.manifest import read_manifest

    cfg = load_config("base", ["smoke=true", "stage=full"])
    model = build_model(cfg).eval()
    exs = [e for e in read_manifest(corpus / "test.jsonl") if e["task"] in ("asr", "srwt")]
    return model, cfg, exs


def test_confusion_outputs_prompts_each_clip_once_per_task(tiny):
    from qa_lab.eval.decode import run

    model, cfg, exs = tiny
    clip_a = [e for e in exs if e["clip"] == exs[0]["clip"]]
    clip_b = [e for e in exs if e["clip"] != exs[0]["clip"]][:1]
    assert len(clip_a) == 2 and len(clip_b) == 1  # clip a has asr and srwt lines: merged into one clip
    word = clip_a[0]["words"][0]["word"]
    grounding = {**clip_a[0], "task": "grounding", "query": word, "spans": [[0.0, 0.3]]}
    prompted, outputs = confusion_outputs(model, cfg, clip_a + clip_b + [grounding], ["asr", "grounding", "aqa"],
                                          max_new_tokens=4)
    # clip a: asr and grounding (it has a query); clip b: asr only; aqa nowhere (no question)
    assert prompted == ["asr", "grounding", "asr"] and len(outputs) == 3
    one = lambda ex, task, **kw: run(model, cfg, [{"audio": ex["_audio_path"], "task": task, **kw}],  # noqa: E731
                                     max_new_tokens=4)[0]
    assert outputs == [one(clip_a[0], "asr"), one(clip_a[0], "grounding", query=word), one(clip_b[0], "asr")]


def test_headline_metrics():
    flat = {"asr/wer[de]": 0.5, "asr/wer[en]": 0.2, "asr/cer[zh]": 0.3, "srwt/aas": 0.1, "srwt/srwt_wer": 0.4,
            "aqa/accuracy[temporal]": 0.5, "aqa/accuracy": 0.6, "aqa/macro_f1": 0.2, "s2tt/bleu[de]": 12.0,
            "grounding/onset_error": 0.2, "grounding/iou": 0.4}
    assert headline_metrics(flat) == {"asr/wer[en]": False, "srwt/aas": False, "aqa/accuracy": True,
                                      "s2tt/bleu[de]": True, "grounding/iou": True}
    assert headline_metrics({"asr/cer[zh]": 0.3, "asr/wer[de]": 0.5}, ["asr", "lid"]) == {"asr/cer[zh]": False}


def test_audio_frames_are_what_the_llm_reads(tiny):
    model, cfg, exs = tiny
    batch = batch_for(model, cfg, exs[:3])
    frames = audio_frames(model, batch)
    assert [f.shape for f in frames] == [(int(n), model.projector.out_features) for n in batch["audio_mask"].sum(1)]
    with torch.no_grad():
        spliced = model.embed(batch)[batch["audio_mask"]]  # (sum T_audio, d_llm)
    np.testing.assert_allclose(np.concatenate(frames), spliced.numpy(), atol=1e-6)


def test_batch_for_and_attention_to_audio(tiny):
    from qa_lab.prompts.tasks import target

    model, cfg, exs = tiny
    ex = exs[0]
    ref = batch_for(model, cfg, [ex])
    assert model.tokenizer.convert_tokens_to_string(output_tokens(model, ref)) == target(ex) + "<|endoftext|>"
    a, b = (batch_for(model, cfg, [ex], outputs=[text]) for text in ("one large cat", "the cat waited"))
    assert output_tokens(model, a)[-1] == "<|endoftext|>"
    before = model.language_model.config._attn_implementation
    att_a, att_b = attention_to_audio(model, a), attention_to_audio(model, b)
    assert model.language_model.config._attn_implementation == before  # switched back after the call
    n_audio = int(a["audio_mask"].sum())
    assert att_a.shape == (len(output_tokens(model, a)), n_audio)
    assert (att_a >= 0).all() and (att_a.sum(1) <= 1 + 1e-5).all()
    # row 0 is the last prompt position: it cannot see the output, so it is the same for both outputs; row 1 reads
    # the first output token, which differs
    np.testing.assert_allclose(att_a[0], att_b[0], atol=1e-6)
    assert not np.allclose(att_a[1], att_b[1])
    assert not np.allclose(attention_to_audio(model, a, layers=[0]), att_a)
    with pytest.raises(ValueError, match="one-example batch, got 2"):
        attention_to_audio(model, batch_for(model, cfg, exs[:2]))
    with pytest.raises(ValueError, match="2 examples but 1 outputs"):
        batch_for(model, cfg, exs[:2], outputs=["x"])


def test_plot_attention_frames_and_word_times():
    from qa_lab.study.plots import plot_attention_to_audio, plot_audio_frames, plot_word_times

    rng = np.random.default_rng(0)
    words = [{"word": "hello", "start": 0.1, "end": 0.5}, {"word": "there", "start": 0.5, "end": 0.9}]
    fig = plot_attention_to_audio(rng.uniform(0, 0.02, (3, 25)), ["a", "b", "<|endoftext|>"], words=words)
    (im,) = fig.axes[0].images
    assert im.get_array().shape == (3, 25) and np.allclose(im.get_array().max(1), 1)  # rows scaled to their max
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b", "<|endoftext|>"]
    assert im.get_extent()[1] == pytest.approx(1.0)  # 25 frames of 40 ms
    with pytest.raises(ValueError, match="2 tokens for 3 attention rows"):
        plot_attention_to_audio(np.ones((3, 4)), ["a", "b"])
    fig = plot_audio_frames(rng.normal(size=(40, 16)), words=words, n_components=5)
    assert len(fig.axes) == 2 and fig.axes[0].images[0].get_array().shape == (5, 40)
    fig = plot_word_times(words, "<|0.12|>hello<|0.48|>their<|0.95|>")
    assert len(fig.axes[0].patches) == 4 and "2 predicted words" in fig.axes[0].get_title(loc="left")
    fig = plot_word_times(words, "hello there")
    assert len(fig.axes[0].patches) == 2 and "not SRWT" in fig.axes[0].get_title(loc="left")


def test_callbacks_are_lightning_callbacks():
    import lightning as L

    from qa_lab.train.callbacks import GenerationEval
    assert isinstance(GradientConflict(every_n_steps=3), L.Callback)
    assert isinstance(GenerationEval(None, per_task=1), L.Callback)


def test_time_readout_has_a_record_per_time_token_of_each_timed_answer(tiny):
    from qa_lab.study.introspection import time_readout

    model, cfg, exs = tiny
    srwt = [e for e in exs if e["task"] == "srwt"]
    r = time_readout(model, cfg, srwt)
    for c, ex in enumerate(srwt):  # N words -> N + 1 time tokens, the targets the answer's own times
        want = [round(w["start"], 2) for w in ex["words"]]
        got = r["target"][r["clip"] == c]
        assert len(got) == len(ex["words"]) + 1 and np.allclose(got[:-1], want, atol=0.011)
    assert ((r["argmax"] >= 0) & (r["argmax"] <= 30)).all()
    assert ((r["p_target"] > 0) & (r["p_target"] <= r["p_times"]) & (r["p_times"] <= 1 + 1e-6)).all()
    assert ((r["attention_window"] >= 0) & (r["attention_window"] <= 1 + 1e-6)).all()
    assert ((r["window_share"] > 0) & (r["window_share"] <= 1)).all()
    assert r["hidden"].shape == (len(r["target"]), model.language_model.config.hidden_size)
    assert len(time_readout(model, cfg, [e for e in exs if e["task"] == "asr"])["target"]) == 0  # no time tokens


def test_probe_times_finds_a_time_that_is_in_the_features_and_not_one_that_is_not():
    from qa_lab.study.introspection import probe_times

    rng = np.random.default_rng(0)
    times = rng.uniform(0, 5, 400)
    groups = np.repeat(np.arange(40), 10)
    there = np.stack([times * 2 + rng.normal(0, 0.05, 400), rng.normal(size=400)], 1)
    absent = rng.normal(size=(400, 2))
    found, missed = probe_times(there, times, groups), probe_times(absent, times, groups)
    assert found["mae"] < 0.1 * found["mae_constant"]
    assert missed["mae"] > 0.9 * missed["mae_constant"]
