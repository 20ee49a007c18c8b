"""The evaluation harness: perfect outputs score perfectly, wrong ones do not, format errors are counted,
and a briefly trained model is evaluated on a world split with a row for every task."""

import json
import random

import pytest
import torch

from qa_lab.cli import main
from qa_lab.config import WorldConfig
from qa_lab.data.manifest import read_manifest
from qa_lab.eval import load_metrics, markdown_table, parse_output, score, write
from qa_lab.prompts import tasks
from qa_lab.study.plots import read_metrics
from qa_lab.world import builder as world

# the figure that says "perfect" for each metric key
PERFECT = {"wer": 0.0, "cer": 0.0, "aas": 0.0, "srwt_wer": 0.0, "bleu": 100.0, "accuracy": 1.0, "macro_f1": 1.0,
           "mae": 0.0, "iou": 1.0, "onset_error": 0.0, "offset_error": 0.0, "event_f1": 1.0, "pitch": 1.0,
           "velocity": 1.0, "instrument": 1.0, "format_error_rate": 0.0}


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    cfg = WorldConfig(out=str(tmp_path_factory.mktemp("world")), n_train=2, n_val=1, n_test=8, workers=1)
    root = world.build_world(cfg, seed=0, progress=False)
    return read_manifest(root / "test.jsonl")


def test_perfect_outputs_score_perfectly(examples):
    metrics, rows = score(examples, [tasks.target(ex) for ex in examples], n_resamples=50)
    assert set(metrics) == set(world.CLIP_TASKS)
    for task, res in metrics.items():
        assert res["format_errors"] == 0, task
        for key, m in res.items():
            if not isinstance(m, dict):
                continue
            base = key.split("[")[0]
            if base in PERFECT:
                assert m["value"] == pytest.approx(PERFECT[base], abs=1e-6), (task, key)
                if "ci" in m:
                    assert m["ci"][0] <= m["value"] + 1e-9 <= m["ci"][1] + 2e-9
    assert metrics["aac"]["cider_d"]["value"] > 1.0
    assert all(not r["format_error"] for r in rows)


def test_shuffled_outputs_score_worse(examples):
    rng = random.Random(0)
    by_task = {}
    for i, ex in enumerate(examples):
        by_task.setdefault(ex["task"], []).append(i)
    outputs = [tasks.target(ex) for ex in examples]
    for idx in by_task.values():  # shuffle answers among clips of the same task
        targets = [outputs[i] for i in idx]
        rng.shuffle(targets)
        targets = targets[1:] + targets[:1]  # a rotation on top, so no answer stays in place by chance
        for i, t in zip(idx, targets):
            outputs[i] = t
    good, _ = score(examples, [tasks.target(ex) for ex in examples], n_resamples=0)
    bad, _ = score(examples, outputs, n_resamples=0)
    worse = 0
    for key in ("wer[en]", "aas", "accuracy", "iou", "event_f1", "pitch", "cider_d"):
        for task in bad:
            if key in bad[task] and bad[task][key]["value"] != good[task][key]["value"]:
                worse += 1
    assert worse >= 8
    assert bad["grounding"]["iou"]["value"] < 0.5
    assert bad["sed"]["event_f1"]["value"] < 1.0


def test_unparseable_outputs_are_counted_as_format_errors(examples):
    outputs = [tasks.target(ex) for ex in examples]
    broken = {"srwt": "hello world", "sed": "a beep", "grounding": "<|1.00|>", "note_analysis": "organ",
              "count": "several", "asc": "park<|0.50|>"}
    n_broken = {}
    for i, ex in enumerate(examples):
        if ex["task"] in broken:
            outputs[i] = broken[ex["task"]]
            n_broken[ex["task"]] = n_broken.get(ex["task"], 0) + 1
    metrics, rows = score(examples, outputs, n_resamples=0)
    for task, n in n_broken.items():
        assert metrics[task]["format_errors"] == n, task
        assert metrics[task]["format_error_rate"]["value"] == pytest.approx(n / metrics[task]["n"])
    assert sum(r["format_error"] for r in rows) >= sum(n for t, n in n_broken.items() if t != "count")
    with pytest.raises(Exception, match="special token"):
        parse_output("asc", "park<|0.50|>")


def test_tables_and_files(examples, tmp_path):
    metrics, rows = score(examples, [tasks.target(ex) for ex in examples], n_resamples=20)
    table = markdown_table(metrics)
    for task in metrics:
        assert f"| {task} |" in table
    assert "AAS (s) ↓" in table and "WER (en) % ↓" in table
    out = write(tmp_path / "eval" / "x", metrics, rows, {"source": "test"})
    assert load_metrics(out) == json.loads(json.dumps(metrics))
    assert load_metrics(tmp_path) == load_metrics(out)  # a run folder's newest eval
    assert len((out / "predictions.jsonl").read_text().splitlines()) == len(examples)
    assert (out / "metrics.md").read_text().startswith("| task | metric |")


@pytest.mark.slow
def test_trained_model_is_evaluated_on_a_world_split_with_a_row_per_task(tmp_path, capsys):
    mix = "[asr,srwt,grounding,aqa]"
    over = ["smoke=true", f"world.out={tmp_path / 'world'}", f"runs_dir={tmp_path / 'runs'}", f"data.tasks={mix}",
            f"world.tasks={mix}", "trainer.val_decode_per_task=1", "world.n_test=4"]
    main(["train", "base", *over])
    run_dir = next((tmp_path / "runs" / "base").iterdir())
    logged = read_metrics(run_dir)
    assert "val/srwt/format_error_rate" in logged and "val/aqa/accuracy" in logged  # task metrics while training
    capsys.readouterr()
    main(["eval", str(run_dir / "checkpoints" / "last.ckpt"), "--world", "test", "--tasks", *world.CLIP_TASKS,
          "--limit", "2", "--max-new-tokens", "12", "--bootstrap", "20"])
    out = capsys.readouterr().out
    metrics = load_metrics(run_dir)
    assert set(metrics) == set(world.CLIP_TASKS)
    for task in world.CLIP_TASKS:
        assert f"| {task} |" in out
    preds = [json.loads(x) for x in (run_dir / "eval" / "world-test" / "predictions.jsonl").read_text().splitlines()]
    assert {p["task"] for p in preds} == set(world.CLIP_TASKS)
    assert all(isinstance(p["output"], str) and p["reference"] for p in preds)

    # results are never overwritten: the default folder moves on, --out refuses a used folder unless --overwrite
    again = ["eval", str(run_dir / "checkpoints" / "last.ckpt"), "--world", "test", "--tasks", "asr", "--limit", "1",
             "--max-new-tokens", "4", "--bootstrap", "0"]
    main(again)
    assert (run_dir / "eval" / "world-test-2" / "metrics.json").is_file()
    assert len((run_dir / "eval" / "world-test" / "predictions.jsonl").read_text().splitlines()) == len(preds)
    mine = tmp_path / "mine"
    main([*again, "--out", str(mine)])
    (mine / "stale.txt").write_text("from an earlier run")
    with pytest.raises(SystemExit):
        main([*again, "--out", str(mine)])
    assert f"{mine}: the eval folder exists and is not empty; pass --overwrite" in capsys.readouterr().err
    main([*again, "--out", str(mine), "--overwrite"])
    assert not (mine / "stale.txt").exists() and (mine / "metrics.json").is_file()
    meta = json.loads((mine / "metrics.json").read_text())["meta"]
    assert meta["ctc_timed"] is False and meta["monotone_times"] is True  # the checkpoint's decode settings


def test_decode_flags_replace_the_checkpoints_decode_settings():
    from qa_lab.cli import _decode_flags, parse_args
    from qa_lab.config import load_config
    cfg = load_config("base")
    assert (cfg.decode.ctc_timed, cfg.decode.monotone_times, cfg.decode.num_beams) == (False, True, 1)
    _decode_flags(cfg, parse_args(["eval", "last.ckpt", "--world", "test", "--ctc-timed", "--no-monotone-times"]))
    assert (cfg.decode.ctc_timed, cfg.decode.monotone_times, cfg.decode.num_beams) == (True, False, 1)
    _decode_flags(cfg, parse_args(["infer", "last.ckpt", "a.wav", "--no-ctc-timed", "--num-beams", "3"]))
    assert (cfg.decode.ctc_timed, cfg.decode.monotone_times, cfg.decode.num_beams) == (False, False, 3)


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_eval_limit_below_one_is_refused_naming_the_flag(value, capsys):
    from qa_lab.cli import parse_args
    with pytest.raises(SystemExit) as e:  # --limit 0 would score nothing and exit 0
        parse_args(["eval", "last.ckpt", "--world", "test", "--limit", value])
    assert e.value.code == 2 and "--limit" in capsys.readouterr().err


def test_beam_search_decodes_and_scores(examples, corpus):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.eval import evaluate
    cfg = load_config("base", ["smoke=true", "stage=full"])
    model = build_model(cfg).eval()
    asr = [ex for ex in read_manifest(corpus / "val.jsonl") if ex["task"] == "asr"][:2]
    greedy = evaluate(model, cfg, asr, n_resamples=0, progress=False, max_new_tokens=4)
    beam = evaluate(model, cfg, asr, n_resamples=0, progress=False, max_new_tokens=4, num_beams=3)
    assert greedy["asr"]["n"] == beam["asr"]["n"] == 2
    assert beam["asr"]["wer[en]"]["value"] is not None
    # the beam is really searched (a width that is ignored gives greedy's answers), and decode.num_beams is the default
    from qa_lab.eval.decode import run
    torch.manual_seed(1)
    with torch.no_grad():  # a random LLM far from its init: no single token dominates every step
        for p in model.language_model.parameters():
            p.add_(torch.randn_like(p))
        model.language_model.model.norm.weight.mul_(0.02)  # and flat next-token distributions, where beams matter
    answers = {n: run(model, cfg, [dict(ex) for ex in asr], max_new_tokens=4, num_beams=n) for n in (1, 3)}
    assert answers[1] != answers[3], answers
    cfg.decode.num_beams = 3  # the config's beam width is the default
    assert run(model, cfg, [dict(ex) for ex in asr], max_new_tokens=4) == answers[3]


def test_decode_max_new_tokens_caps_every_answer_and_an_explicit_cap_wins(corpus):
    from dataclasses import replace
    from qa_lab.config import ConfigError, DecodeConfig, load_config
    from qa_lab.core.build import build_model
    from qa_lab.eval.decode import run
    cfg = load_config("base", ["smoke=true", "stage=full"])
    assert cfg.decode.max_new_tokens == 32  # smoke runs stop untrained answers early
    cfg = replace(cfg, decode=replace(cfg.decode, max_new_tokens=None))
    model = build_model(cfg).eval()
    for p in model.parameters():  # an EOS-averse model: every answer runs to its budget
        p.requires_grad_(False)
    model.language_model.lm_head.bias = torch.nn.Parameter(torch.zeros(model.language_model.lm_head.out_features))
    model.language_model.lm_head.bias.requires_grad_(False)
    model.language_model.lm_head.bias[model.tokenizer.eos_token_id] = -1e4
    ex = [ex for ex in read_manifest(corpus / "val.jsonl") if ex["task"] == "asr"][:1]
    generate, lengths = model.generate, []

    def counted(*args, **kwargs):  # the ids each answer got, as generation returned them
        out = generate(*args, **kwargs)
        lengths.extend(len(ids) for ids in out)
        return out
    model.generate = counted

    def n_tokens(c, **kw) -> int:
        lengths.clear()
        run(model, c, [dict(e) for e in ex], **kw)
        return max(lengths)
    capped = replace(cfg, decode=replace(cfg.decode, max_new_tokens=5))
    assert n_tokens(capped) == 5 and n_tokens(cfg, max_new_tokens=9) == 9
    assert n_tokens(capped, max_new_tokens=9) == 9  # an explicit cap wins over the config's
    assert n_tokens(cfg) > 32  # without a cap, asr's own budget (128)
    with pytest.raises(ConfigError, match="decode.max_new_tokens=0"):
        DecodeConfig(max_new_tokens=0)


def test_timed_answers_never_go_back_in_time():
    from qa_lab.eval.decode import MonotoneTimes
    times = [7, 8, 9, 10]  # ids of <|0.00|> .. <|0.03|> in a 12-token vocabulary
    rule = MonotoneTimes(times)
    scores = torch.zeros(2, 12)
    ids = torch.tensor([[7, 3, 9, 4], [1, 2, 3, 4]])  # row 0 has said 0.00 then 0.02; row 1 no time yet
    out = rule(ids, scores)
    assert torch.isinf(out[0, [7, 8]]).all() and torch.isfinite(out[0, [9, 10, 3]]).all()  # 0.02 may repeat
    assert torch.isfinite(out[1]).all()
    assert torch.isfinite(rule(torch.zeros(2, 0, dtype=torch.long), scores)).all()  # nothing generated yet


def test_srwt_answers_keep_their_grammar_while_decoded():
    from qa_lab.eval.decode import SrwtGrammar, space_tokens
    from qa_lab.prompts.tags import TIME_TOKENS, parse_srwt
    times, space = [7, 8, 9, 10], [11]  # <|0.00|> .. <|0.03|>, and a token that is only a space
    rule = SrwtGrammar(times, space)
    scores = torch.zeros(4, 12)
    first = rule(torch.zeros(4, 0, dtype=torch.long), scores)
    assert torch.isfinite(first[:, times]).all() and torch.isinf(first[:, [1, 2, 11]]).all()  # it opens with a time
    ids = torch.tensor([[7, 3, 4, 8],  # a word, then a time: no word yet since it
                        [7, 3, 8, 11],  # ... then a bare space: still no word
                        [7, 3, 8, 2],  # ... then a word: the next time may come
                        [1, 2, 11, 3]])  # no time at all
    out = rule(ids, scores)
    assert torch.isinf(out[:2, times]).all() and torch.isfinite(out[:2, [1, 2, 3, 11, 0]]).all()
    assert torch.isfinite(out[2:]).all()
    # on a real tokenizer: the only space tokens are spaces, and the rule's answers parse
    from qa_lab.core.tokenizer import tiny_tokenizer
    tok = tiny_tokenizer()
    blank = space_tokens(tok)
    assert blank and all(not tok.decode([i]).strip() for i in blank) and tok.convert_tokens_to_ids("Ġ") in blank
    assert parse_srwt(TIME_TOKENS[0] + " this" + TIME_TOKENS[20])  # what the rule lets through parses


def test_a_new_task_with_a_new_metric_family_is_one_registration_each(monkeypatch):
    """A task and its metric family are the only two places a new kind of answer is defined: parse, score,
    headline, display name and decoding budget all follow from them."""
    from qa_lab.eval import families
    from qa_lab.prompts.tags import KEYWORD, NOTIMESTAMPS, STARTOFANALYSIS, FormatError, TaskTags
    from qa_lab.study.interference import headline_metrics, tag_confusion
    monkeypatch.setattr(tasks, "REGISTRY", dict(tasks.REGISTRY))
    monkeypatch.setattr(tasks, "METRICS", set(tasks.METRICS))
    monkeypatch.setattr(families, "FAMILIES", dict(families.FAMILIES))

    def parse(text: str) -> str:
        if not text.isupper():
            raise FormatError(f"not shouted: {text!r}")
        return text

    def exact(s: families.Scoring) -> None:
        s.res["exact"] = s.ci(lambda r, h: sum(a == b for a, b in zip(r, h)) / len(r), s.refs_text,
                              [p or "" for p in s.parsed])

    with pytest.raises(ValueError, match="metric of task"):
        tasks.Task("shout", "speech", TaskTags(STARTOFANALYSIS, KEYWORD, NOTIMESTAMPS, "<|shout|>"), "Shout it.",
                   metric="exact")
    families.register_family(families.MetricFamily("exact", exact, ("exact",), parse,
                                                   names={"exact": ("exact match", True)}, percent=("exact",),
                                                   form_rank=0))
    tasks.register(tasks.Task("shout", "speech", TaskTags(STARTOFANALYSIS, KEYWORD, NOTIMESTAMPS, "<|shout|>"),
                              "Shout it.", metric="exact", max_new_tokens=4))
    examples = [{"task": "shout", "label": w, "audio": "x.wav"} for w in ("YES", "NO", "STOP", "GO")]
    metrics, rows = score(examples, ["YES", "NO", "go", "WAIT"], n_resamples=0)
    assert metrics["shout"]["exact"]["value"] == 0.5 and metrics["shout"]["format_errors"] == 1
    assert [r["format_error"] for r in rows] == [False, False, True, False]
    assert "| shout | exact match % ↑ | 50.0 |" in markdown_table(metrics)
    assert headline_metrics({"shout/exact": 0.5, "shout/format_error_rate": 0.25}) == {"shout/exact": True}
    rows_, cols, share = tag_confusion(["shout", "shout"], ["GO", "go"], ["asr", "shout"])
    assert share[0].tolist() == [0.5, 0.5, 0.0]  # a shouted answer is the more specific form; "go" is plain text
    assert tasks.get("shout").max_new_tokens == 4


def test_an_output_folder_that_holds_the_input_is_refused_overwrite_or_not(corpus, tmp_path, monkeypatch, capsys):
    import shutil
    from qa_lab.config import load_config
    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"weights")  # never read: the refusal comes before any decoding or export
    monkeypatch.setattr("qa_lab.core.checkpoint.load", lambda *a, **k: (load_config("base"), None))
    data = tmp_path / "data"
    (data / "audio").mkdir(parents=True)
    lines = [json.loads(line) for line in (corpus / "test.jsonl").read_text().splitlines()]
    for ex in lines:
        shutil.copy(corpus / ex["audio"], data / "audio")
        ex["audio"] = f"audio/{ex['audio'].rsplit('/', 1)[-1]}"
    manifest = data / "test.jsonl"
    manifest.write_text("".join(json.dumps(ex) + "\n" for ex in lines))
    eval_ = ["eval", str(ckpt), "--manifest", str(manifest), "--out"]
    for argv, out, held in ((eval_, run, ckpt),  # the checkpoint's own run folder
                            (eval_, data, manifest),
                            (eval_, data / "audio", data / "audio"),  # the folder the manifest's audio is in
                            (["export", str(ckpt)], run, ckpt)):
        for overwrite in ([], ["--overwrite"]):
            with pytest.raises(SystemExit) as e:
                main([*argv, str(out), *overwrite])
            assert e.value.code == 2
            err = capsys.readouterr().err
            assert f"{out}: the {argv[0]} folder holds {held}, which this command reads" in err, err
    assert ckpt.read_bytes() == b"weights" and manifest.is_file()
    assert len(list((data / "audio").iterdir())) == len({ex["audio"] for ex in lines})


def test_infer_on_a_clip_too_short_for_the_encoder_names_the_file_and_the_minimum(tmp_path, monkeypatch, capsys):
    import numpy as np
    import soundfile as sf

    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    cfg = load_config("base", ["smoke=true", "parts.enabled=false"])
    model = build_model(cfg).eval()
    monkeypatch.setattr("qa_lab.core.checkpoint.load", lambda *a, **k: (cfg, model))
    clip = tmp_path / "short.wav"
    sf.write(clip, 0.1 * np.random.default_rng(0).standard_normal(800).astype(np.float32), 16000)  # 0.05 s
    with pytest.raises(SystemExit) as e:
        main(["infer", str(tmp_path / "any.ckpt"), str(clip)])
    assert e.value.code == 2
    assert f"{clip}: clip is 0.050 s long; the encoder needs at least 0.1 s" in capsys.readouterr().err


def test_a_grounding_answer_cannot_end_before_it_starts_under_monotone_times(examples):
    """A head rigged to say <|2.00|> and then <|1.00|> (a span ending before it starts, which does not parse) writes
    that under decode.monotone_times=false, and under the default the second time is 2.00 or later."""
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.eval.decode import run
    from qa_lab.prompts.tags import parse_spans
    cfg = load_config("base", ["smoke=true", "stage=full"])
    model = build_model(cfg).eval()
    late, early = model.tokenizer.convert_tokens_to_ids(["<|2.00|>", "<|1.00|>"])
    ground = [dict(ex) for ex in examples if ex["task"] == "grounding"][:1]
    calls = []

    def rig(module, inputs, logits):  # the first step's favourite is 2.00, every later step's 1.00
        logits = logits.clone()
        logits[..., late if not calls else early] += 1e4
        calls.append(1)
        return logits

    hook = model.language_model.get_output_embeddings().register_forward_hook(rig)
    try:
        answers = {}
        for monotone in (False, True):
            cfg.decode.monotone_times = monotone
            calls.clear()
            answers[monotone] = run(model, cfg, ground, max_new_tokens=2, num_beams=1)[0]
    finally:
        hook.remove()
    assert answers[False] == "<|2.00|><|1.00|>"
    start, end = parse_spans(answers[True])[0]
    assert start == 2.0 and end >= 2.0
