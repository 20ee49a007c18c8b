"""How tasks interfere: per-task gradient conflict during training, transfer matrices, tag confusion.

    grads = task_gradients(model, batch)               # {task: flat gradient} over the trainable parameters
    tasks, cos = gradient_cosines(grads)               # (K, K) cosine matrix; < 0 means the tasks pull apart
    read_grad_conflict(run_dir)                        # what qa_lab.train.callbacks.GradientConflict logged
    transfer_matrix(single, multi, higher_is_better)   # relative gain of multi-task arms over single-task runs
    tag_confusion(prompted, outputs, candidates)       # which task's answer form each prompt's outputs took
    confusion_outputs(model, cfg, examples, tasks)     # decode clips under every task's prompt (for tag_confusion)

Plots live in qa_lab.study.plots (plot_grad_conflict, plot_transfer_matrix, plot_tag_confusion, plot_task_losses).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from qa_lab.example import Example
from qa_lab.prompts import tags
from qa_lab.prompts import tasks as registry
# the probe runs inside training (train.callbacks.GradientConflict), so its arithmetic lives there
from qa_lab.eval.decode import run
from qa_lab.eval.families import family_of
from qa_lab.eval.harness import display, parse_output
from qa_lab.train.callbacks import GRAD_CONFLICT_FILE, gradient_cosines, task_gradients  # noqa: F401 -- re-exported

# --- gradient conflict, as GradientConflict logged it ----------------------------------------------------------------

def read_grad_conflict(path: str | Path) -> list[dict]:
    """grad_conflict.jsonl (or a folder holding it, directly or under logs/) -> records sorted by step, with
    "cosine" as a (K, K) float array (nan where the file has null)."""
    p = Path(path)
    if p.is_dir():
        found = [q for q in (p / GRAD_CONFLICT_FILE, p / "logs" / GRAD_CONFLICT_FILE) if q.is_file()]
        if not found:
            raise FileNotFoundError(f"{p}: no {GRAD_CONFLICT_FILE} (nor logs/{GRAD_CONFLICT_FILE}); "
                                    "train with the GradientConflict callback first")
        p = found[0]
    records = []
    for k, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            r["cosine"] = np.array([[np.nan if x is None else x for x in row] for row in r["cosine"]], dtype=float)
            if r["cosine"].shape != (len(r["tasks"]),) * 2:
                raise ValueError(f"cosine shape {r['cosine'].shape} does not match {len(r['tasks'])} tasks")
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{p}:{k}: not a grad-conflict record ({e})") from None
        records.append(r)
    return sorted(records, key=lambda r: r["step"])


# --- transfer ----------------------------------------------------------------------------------------------------

def flatten_metrics(metrics: dict) -> dict[str, float]:
    """qa_lab.eval.load_metrics output {task: {key: {"value": v}}} -> {"task/key": v} (e.g. "asr/wer[en]"),
    the key scheme transfer_matrix expects."""
    return {f"{task}/{key}": float(m["value"]) for task, res in metrics.items() for key, m in res.items()
            if isinstance(m, dict) and isinstance(m.get("value"), (int, float))}


def transfer_matrix(single: dict[str, dict[str, float]], multi: dict[str, dict[str, float]],
                    higher_is_better: dict[str, bool]) -> tuple[list[str], list[str], np.ndarray]:
    """Relative gain of each training mixture over the single-task baseline on each task's headline metric.

    single[task] = {metric key: value} of the run trained on `task` alone; multi[arm] = {metric key: value} of a
    training mixture ("asr+srwt", "all" … a single-task arm may be a row too). Columns are the metric keys of
    `higher_is_better`, one per evaluated task, named so each occurs in exactly one single-task run (e.g.
    "asr/wer[en]", "srwt/aas" via flatten_metrics). With s the baseline and m the arm's value, the cell is

        (m - s) / |s| if higher is better, else (s - m) / |s|      (positive = the mixture helps)

    Returns (rows = arms, cols = metric keys, (R, C) matrix); nan where an arm lacks the metric or s == 0."""
    cols = list(higher_is_better)
    rows = list(multi)
    base = {}
    for c in cols:
        owners = [t for t, m in single.items() if c in m]
        if len(owners) != 1:
            where = f"in the single-task runs {owners}" if owners else "in no single-task run"
            raise ValueError(f"transfer_matrix: metric {c!r} is {where}; each column needs exactly one baseline "
                             f"(single-task runs: {sorted(single)})")
        base[c] = float(single[owners[0]][c])
    out = np.full((len(rows), len(cols)), np.nan)
    for i, arm in enumerate(rows):
        for j, c in enumerate(cols):
            s, m = base[c], multi[arm].get(c)
            if m is None or s == 0 or not math.isfinite(s):
                continue
            out[i, j] = ((m - s) if higher_is_better[c] else (s - m)) / abs(s)
    return rows, cols, out


# --- tag confusion -----------------------------------------------------------------------------------------------

_INTEGER = re.compile(r"\d+\.?")


def _rank(task: str) -> int:
    """How specific the task's answer form is: its metric family's form_rank (0 note ... 4 plain text)."""
    return family_of(task).form_rank


def answer_form(text: str, candidates: list[str]) -> str | None:
    """Which candidate task's answer form a decoded output takes, or None.

    Candidates are tried by form, most specific first, and in the given order within a form:
      0 note_analysis (note_fields): a note, '<|pitch|><|midi_pitch_60|>…<|instrument|>organ'
      1 grounding (iou): time spans, '<|1.20|><|1.55|><|delim|>…'
      2 sed (event_f1) and srwt (aas): '<|0.50|>beep<|0.80|>…' events / '<|0.00|>mister<|0.41|>quilter<|0.87|>'
        words; at least one item. A single '<|t0|>x<|t1|>' is both, so the caller's order decides
        (tag_confusion puts the prompted task first)
      3 count: a whole number in digits ('3', '3.'); number words are left to plain text
      4 plain text (asr, s2tt, aac, labels, aqa …): non-empty and no special token. Plain-text tasks cannot be told
        apart by form, so the first plain candidate wins.
    A candidate matches when qa_lab.eval.parse_output accepts the text (plus the non-empty / digits checks above).
    """
    order = sorted(dict.fromkeys(candidates), key=_rank)  # stable: the caller's order within a form
    for task in order:
        try:
            parsed = parse_output(task, text)
        except tags.FormatError:
            continue
        rank = _rank(task)
        if rank in (1, 2) and not parsed:
            continue
        if rank == 3 and not _INTEGER.fullmatch(parsed):
            continue
        if rank == 4 and not parsed:
            continue
        return task
    return None


def tag_confusion(prompted_tasks: list[str], outputs: list[str],
                  candidates: list[str]) -> tuple[list[str], list[str], np.ndarray]:
    """How often a prompt for task r gets an answer in task c's form (answer_form), row-normalised.

    rows = prompted tasks (candidates order, then any others in order of appearance), cols = candidates + ["other"]
    ("other": no candidate's form, e.g. an empty output or stray tags). Each output is classified with the
    prompted task moved first among the candidates, so an ambiguous output (a plain text, a single timed item)
    counts as the form that was asked for. The diagonal is the rate of answering in the prompted form."""
    if len(prompted_tasks) != len(outputs):
        raise ValueError(f"tag_confusion: {len(prompted_tasks)} prompted tasks but {len(outputs)} outputs")
    cands = list(dict.fromkeys(candidates))
    rows = [t for t in cands if t in set(prompted_tasks)]
    rows += [t for t in dict.fromkeys(prompted_tasks) if t not in rows]
    cols = cands + ["other"]
    counts = np.zeros((len(rows), len(cols)))
    for task, text in zip(prompted_tasks, outputs):
        order = [task] + [c for c in cands if c != task] if task in cands else cands
        form = answer_form(text, order)
        counts[rows.index(task), cols.index(form) if form is not None else len(cands)] += 1
    return rows, cols, counts / np.maximum(counts.sum(1, keepdims=True), 1)


# --- one set of clips under many task prompts (tag confusion) ------------------------------------------------------

def confusion_outputs(model, cfg, examples: list[Example], tasks: list[str], max_new_tokens: int | None = None,
                      batch_seconds: float = 120.0) -> tuple[list[str], list[str]]:
    """Decode every clip of `examples` under every task's prompt -> (prompted tasks, outputs), tag_confusion's input.

    Manifest lines of one clip (same `clip` id, else same audio, offset and duration) are merged into one clip,
    prompted once per task in `tasks` in cfg.tags.format. A task whose prompt takes a question or query (aqa,
    grounding) is prompted only on clips that have one among their lines; s2tt keeps a clip's target language
    when one of its lines names it. Audio paths are `_audio_path` (read_manifest's resolved path) or `audio`.
    Decoding is qa_lab.eval.decode.run (greedy, per-task caps unless max_new_tokens)."""
    clips: dict = {}
    for ex in examples:
        key = ex.get("clip") or (str(ex["audio"]), ex.get("offset"), ex.get("duration"))
        c = clips.setdefault(key, {k: ex.get(k) for k in ("offset", "duration", "audio_lang", "clip")})
        c.setdefault("audio", str(ex.get("_audio_path") or ex["audio"]))  # read_manifest resolved the path
        for f in ("question", "query"):
            if ex.get(f):
                c.setdefault(f, ex[f])
        if ex["task"] == "s2tt" and ex.get("text_lang"):
            c.setdefault("s2tt_text_lang", ex["text_lang"])
    prompts = []
    for c in clips.values():
        for task in tasks:
            t = registry.get(task)
            if t.query and not c.get(t.query):
                continue
            p = {k: c[k] for k in ("audio", "offset", "duration", "audio_lang", "clip") if c[k] is not None}
            p["task"] = task
            if t.query:
                p[t.query] = c[t.query]
            if task == "s2tt" and c.get("s2tt_text_lang"):
                p["text_lang"] = c["s2tt_text_lang"]
            prompts.append(p)
    outputs = run(model, cfg, prompts, batch_seconds=batch_seconds, max_new_tokens=max_new_tokens)
    return [p["task"] for p in prompts], outputs


# --- headline metrics (transfer matrices) ----------------------------------------------------------------------------

def headline_metrics(flat: dict[str, float], tasks: list[str] | None = None) -> dict[str, bool]:
    """Each task's headline metric among flattened metrics (flatten_metrics keys, e.g. "asr/wer[en]") ->
    {key: higher is better}, in `tasks` order (default: the tasks present, in order of appearance).

    The headline is what the task's metric family names (qa_lab.eval.families): WER (CER for Chinese; English
    when present, else the first language), AAS, BLEU, CIDEr-D, accuracy (overall, not accuracy[temporal]), IoU,
    event-F1, pitch accuracy. A task with no such key is left out."""
    by_task: dict[str, list[str]] = {}
    for key in flat:
        task, metric = key.split("/", 1)
        by_task.setdefault(task, []).append(metric)
    out = {}
    for task in tasks if tasks is not None else list(by_task):
        family = family_of(task)
        keys = [m for m in by_task.get(task, [])
                if m.split("[")[0] in family.headline and (family.per_language or "[" not in m)]
        if not keys:
            continue
        key = next((m for m in keys if m.endswith("[en]")), keys[0])
        out[f"{task}/{key}"] = display(key)[1]
    return out
