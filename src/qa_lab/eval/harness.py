"""The evaluation harness: decode a manifest or world split, parse outputs per task, score with the paper's metrics.

Every task is scored by the metric its registry entry names (tasks.py); an output that does not parse as
the task's answer form (SRWT words, spans, events, a note, a count) is wrong and counted as a format error.
Each figure comes with a percentile-bootstrap 95 % confidence interval over examples.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from qa_lab.data.manifest import first_per_task
from qa_lab.eval import metrics as M
from qa_lab.prompts import tags
from qa_lab.prompts import tasks as registry

# Display names as papers print them, and whether higher is better.
NAMES = {
    "wer": ("WER", False), "cer": ("CER", False), "bleu": ("BLEU", True), "aas": ("AAS (s)", False),
    "srwt_wer": ("WER", False), "cider_d": ("CIDEr-D", True), "spider": ("SPIDEr", True), "bleu4": ("BLEU-4", True),
    "accuracy": ("ACC", True), "macro_f1": ("macro-F1", True), "mae": ("MAE", False), "iou": ("IoU", True),
    "onset_error": ("onset err (s)", False), "offset_error": ("offset err (s)", False), "event_f1": ("event-F1", True),
    "pitch": ("pitch ACC", True), "velocity": ("velocity ACC", True), "instrument": ("instrument ACC", True),
    "format_error_rate": ("format errors", False),
}


def _lang(ex: dict, key: str) -> str:
    return ex.get(key) or ex.get("audio_lang") or "en"


def _groups(examples: list[dict], key: str) -> list[tuple[str, list[int]]]:
    """Example indices grouped by language (`key`, falling back to audio_lang, then en)."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        out[_lang(ex, key)].append(i)
    return sorted(out.items())


def _base(key: str) -> tuple[str, str]:
    """'wer[en]' -> ('wer', ' (en)')."""
    if "[" in key:
        b, rest = key.split("[", 1)
        return b, f" ({rest.rstrip(']')})"
    return key, ""


def parse_output(task: str, text: str):
    """A decoded output -> the task's structured answer; raises tags.FormatError when it does not parse."""
    metric = registry.get(task).metric
    if metric == "aas":
        return [{"word": w.word, "start": w.start, "end": w.end} for w in tags.parse_srwt(text)]
    if metric == "iou":
        return [list(s) for s in tags.parse_spans(text)]
    if metric == "event_f1":
        return tags.parse_events(text)
    if metric == "note_fields":
        return tags.parse_note(text)
    if "<|" in text:  # a tag or time token inside a plain answer
        raise tags.FormatError(f"special token in a {task} answer: {text!r}")
    return text.strip()


def _parsed(task: str, outputs: list[str]) -> tuple[list, list[bool]]:
    parsed, ok = [], []
    for text in outputs:
        try:
            parsed.append(parse_output(task, text))
            ok.append(True)
        except tags.FormatError:
            parsed.append(None)
            ok.append(False)
    return parsed, ok


def _with_ci(fn, refs: list, hyps: list, n_resamples: int, seed: int) -> dict:
    try:
        value = fn(refs, hyps)
    except ValueError as e:  # e.g. CIDEr-D on a single example: no figure rather than no table
        return {"value": None, "error": str(e)}
    out = {"value": value}
    if n_resamples and len(refs) > 1 and value is not None and not (isinstance(value, float) and math.isnan(value)):
        out["ci"] = list(M.bootstrap_ci(fn, refs, hyps, n_resamples=n_resamples, seed=seed))
    return out


def score_task(task: str, examples: list[dict], outputs: list[str], n_resamples: int = 1000,
               seed: int = 0) -> tuple[dict, list[dict]]:
    """Score one task -> ({metric: {"value", "ci"}, "n", "format_errors"}, per-example rows)."""
    metric = registry.get(task).metric
    refs_text = [registry.target(ex) for ex in examples]
    parsed, ok = _parsed(task, outputs)
    res: dict = {"n": len(examples), "format_errors": ok.count(False)}
    per: list[dict] = [{} for _ in examples]  # per-example scores for predictions.jsonl
    ci = lambda fn, r, h: _with_ci(fn, r, h, n_resamples, seed)  # noqa: E731

    if metric == "wer":  # per language: WER (English normalised as Whisper does), CER for Chinese
        hyps = [p if p is not None else "" for p in parsed]
        refs = [ex["text"] for ex in examples]
        for lang, idx in _groups(examples, "text_lang"):
            key, fn = ("cer", M.character_error_rate) if lang == "zh" else \
                ("wer", lambda r, h, en=lang == "en": M.word_error_rate(r, h, normalize=en))
            res[f"{key}[{lang}]"] = ci(fn, [refs[i] for i in idx], [hyps[i] for i in idx])
            for i in idx:
                try:
                    per[i] = {key: fn([refs[i]], [hyps[i]])}
                except ValueError:  # a reference with no words after normalisation
                    per[i] = {key: None}
    elif metric == "aas":
        aas = M.average_absolute_shift(refs_text, outputs)
        res["aas"] = ci(lambda r, h: M.average_absolute_shift(r, h)["aas"], refs_text, outputs)
        res["srwt_wer"] = ci(lambda r, h: M.average_absolute_shift(r, h)["wer"], refs_text, outputs)
        res["matched_words"] = aas["matched_words"]
        res["format_errors"] = aas["format_errors"]
        per = [{"aas": M.average_absolute_shift([r], [h])["aas"]} if k else {} for r, h, k in zip(refs_text, outputs, ok)]
    elif metric == "bleu":  # per target language (Chinese with sacrebleu's zh tokeniser)
        hyps = [p if p is not None else "" for p in parsed]
        for lang, idx in _groups(examples, "text_lang"):
            fn = lambda r, h, t="zh" if lang == "zh" else "13a": M.bleu(r, h, tokenize=t)  # noqa: E731
            res[f"bleu[{lang}]"] = ci(fn, [refs_text[i] for i in idx], [hyps[i] for i in idx])
    elif metric == "cider":
        refs = [ex.get("references") or [ex["text"]] for ex in examples]
        hyps = [p if p is not None else "" for p in parsed]
        res["cider_d"] = ci(M.cider_d, refs, hyps)
        res["bleu4"] = ci(M.bleu4_captions, refs, hyps)
        spider = M.spider(refs, hyps)
        if spider is not None:
            res["spider"] = {"value": spider}
    elif metric in ("accuracy", "count"):
        hyps = [p if p is not None else "" for p in parsed]
        if metric == "count":
            c = M.count_scores(refs_text, hyps)
            res["accuracy"] = ci(lambda r, h: M.count_scores(r, h)["accuracy"], refs_text, hyps)
            res["mae"] = {"value": c["mae"]}
            res["format_errors"] = c["format_errors"]  # non-integers, including outputs that did not parse
        else:
            res["accuracy"] = ci(M.accuracy, refs_text, hyps)
            res["macro_f1"] = ci(M.macro_f1, refs_text, hyps)
            if any("temporal" in ex for ex in examples):  # aqa: temporal questions apart (what SRWT should help)
                for flag, name in ((True, "temporal"), (False, "non-temporal")):
                    idx = [i for i, ex in enumerate(examples) if bool(ex.get("temporal")) == flag]
                    if idx:
                        res[f"accuracy[{name}]"] = ci(M.accuracy, [refs_text[i] for i in idx], [hyps[i] for i in idx])
        per = [{"correct": M.normalize_label(r) == M.normalize_label(h)} for r, h in zip(refs_text, hyps)]
    elif metric == "iou":
        refs = [ex["spans"] for ex in examples]
        hyps = [p or [] for p in parsed]
        g = M.grounding_scores(refs, hyps)
        res["iou"] = ci(lambda r, h: M.grounding_scores(r, h)["iou"], refs, hyps)
        res["onset_error"], res["offset_error"] = {"value": g["onset_error"]}, {"value": g["offset_error"]}
        per = [{"iou": M.segment_iou(r, h)} for r, h in zip(refs, hyps)]
    elif metric == "event_f1":
        refs = [ex["events"] for ex in examples]
        hyps = [p or [] for p in parsed]
        f = M.event_f1(refs, hyps)
        res["event_f1"] = ci(lambda r, h: M.event_f1(r, h)["f1"], refs, hyps)
        res["onset_error"], res["offset_error"] = {"value": f["onset_error"]}, {"value": f["offset_error"]}
    elif metric == "note_fields":
        refs = [{k: ex[k] for k in ("pitch", "velocity", "instrument")} for ex in examples]
        for name in ("pitch", "velocity", "instrument"):
            res[name] = ci(lambda r, h, name=name: M.note_field_accuracy(r, h)[name], refs, parsed)
    else:
        raise ValueError(f"task {task!r}: no scorer for metric {metric!r}")
    res["format_error_rate"] = {"value": res["format_errors"] / max(len(examples), 1)}
    rows = [{"task": task, "audio": ex.get("audio"), "clip": ex.get("clip"), "prompt": registry.prompt_for(ex),
             "reference": r, "output": o, "parsed": p, "format_error": not k, "scores": s}
            for ex, r, o, p, k, s in zip(examples, refs_text, outputs, parsed, ok, per)]
    return res, rows


def score(examples: list[dict], outputs: list[str], n_resamples: int = 1000, seed: int = 0) -> tuple[dict, list[dict]]:
    """Score every task present -> ({task: metrics}, per-example rows in input order)."""
    if len(examples) != len(outputs):
        raise ValueError(f"{len(examples)} examples but {len(outputs)} outputs")
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_task[ex["task"]].append(i)
    metrics, rows = {}, [None] * len(examples)
    for task, idx in by_task.items():
        metrics[task], task_rows = score_task(task, [examples[i] for i in idx], [outputs[i] for i in idx],
                                              n_resamples, seed)
        for i, r in zip(idx, task_rows):
            rows[i] = r
    order = {t: k for k, t in enumerate(registry.REGISTRY)}
    return dict(sorted(metrics.items(), key=lambda kv: order.get(kv[0], 1e9))), rows


_PERCENT = ("wer", "cer", "srwt_wer", "accuracy", "macro_f1", "pitch", "velocity", "instrument", "iou", "event_f1",
            "format_error_rate")


def _fmt(m: dict, key: str) -> str:
    v = m.get("value")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    pct = _base(key)[0] in _PERCENT
    f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}")
    ci = m.get("ci")
    return f"{f(v)} [{f(ci[0])}, {f(ci[1])}]" if ci else f(v)


def markdown_table(metrics: dict) -> str:
    """One row per task and metric: value with its 95 % CI (rates in %), n and format errors."""
    lines = ["| task | metric | value [95 % CI] | n | format errors |", "| --- | --- | --- | --- | --- |"]
    for task, res in metrics.items():
        keys = [k for k in res if isinstance(res[k], dict) and k != "format_error_rate"]
        for k in keys:
            base, suffix = _base(k)
            name, higher = NAMES.get(base, (base, True))
            pct = " %" if base in _PERCENT else ""
            lines.append(f"| {task} | {name}{suffix}{pct} {'↑' if higher else '↓'} | {_fmt(res[k], k)} | {res['n']} "
                         f"| {res['format_errors']} |")
    return "\n".join(lines)


def write(out_dir: str | Path, metrics: dict, rows: list[dict], meta: dict | None = None) -> Path:
    """predictions.jsonl, metrics.json and metrics.md into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (out / "metrics.json").write_text(json.dumps({"meta": meta or {}, "metrics": metrics}, indent=1,
                                                 ensure_ascii=False) + "\n")
    (out / "metrics.md").write_text(markdown_table(metrics) + "\n")
    return out


def load_metrics(path: str | Path) -> dict:
    """metrics.json of an eval folder (or a run folder's newest eval) -> {task: metrics}."""
    p = Path(path)
    if p.is_dir() and not (p / "metrics.json").is_file():
        found = sorted(p.glob("eval/*/metrics.json"), key=lambda q: q.stat().st_mtime)
        if not found:
            raise FileNotFoundError(f"{p}: no metrics.json (nor eval/*/metrics.json); run `qa-lab eval` first")
        p = found[-1]
    elif p.is_dir():
        p = p / "metrics.json"
    return json.loads(p.read_text())["metrics"]


def evaluate(model, cfg, examples: list[dict], out_dir: str | Path | None = None, num_beams: int | None = None,
             n_resamples: int = 1000, batch_seconds: float = 120.0, progress: bool = True,
             meta: dict | None = None, max_new_tokens: int | None = None) -> dict:
    """Decode `examples` with `model`, score every task, and (with out_dir) write the outputs. -> metrics.

    max_new_tokens overrides the per-task caps (infer.MAX_NEW_TOKENS) for every task; num_beams None = the config's
    (cfg.decode, as is the joint CTC weight)."""
    from qa_lab.eval.decode import run
    outputs = run(model, cfg, [dict(ex) for ex in examples], batch_seconds=batch_seconds, num_beams=num_beams,
                  progress=progress, max_new_tokens=max_new_tokens)
    metrics, rows = score(examples, outputs, n_resamples=n_resamples, seed=cfg.seed)
    if out_dir is not None:
        write(out_dir, metrics, rows, meta)
    return metrics


def eval_examples(cfg, manifest: str | Path | None = None, world_split: str | None = None,
                  tasks: list[str] | None = None, limit: int | None = None) -> tuple[list[dict], str]:
    """Validated examples from a manifest or a split of cfg's world (default tasks: those cfg trains on that
    the world makes), at most `limit` per task -> (examples, a short name for the source)."""
    from qa_lab.data.manifest import read_manifest
    if manifest is not None:
        examples, name = read_manifest(manifest, tasks), Path(manifest).stem
    else:
        from qa_lab.world import builder as world
        want = tasks or [t for t in (cfg.world.tasks or cfg.data.tasks) if t in world.TASKS]
        root = world.build(cfg.world, cfg.seed, tasks=want)
        examples, name = read_manifest(root / f"{world_split}.jsonl", want), f"world-{world_split}"
    if limit is not None:
        examples = [examples[i] for i in first_per_task(examples, limit)]
    return examples, name
