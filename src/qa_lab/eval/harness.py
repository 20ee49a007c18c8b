"""The evaluation harness: decode a manifest or world split, parse outputs per task, score with the paper's metrics.

Every task is scored by the metric family its registry entry names (tasks.py; the families: families.py); an output that does not parse as
the task's answer form (SRWT words, spans, events, a note, a count) is wrong and counted as a format error.
Each figure comes with a percentile-bootstrap 95 % confidence interval over examples.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from qa_lab.data.manifest import first_per_task, read_manifest
from qa_lab.eval import families
from qa_lab.eval import metrics as M
from qa_lab.eval.decode import run_on_ranks
from qa_lab.example import Example
from qa_lab.prompts import tags
from qa_lab.prompts import tasks as registry
from qa_lab.world import builder as world

def _base(key: str) -> tuple[str, str]:
    """'wer[en]' -> ('wer', ' (en)')."""
    if "[" in key:
        b, rest = key.split("[", 1)
        return b, f" ({rest.rstrip(']')})"
    return key, ""


def display(key: str) -> tuple[str, bool]:
    """A result key ('wer[en]' or 'wer') -> (display name of its base, higher is better)."""
    return families.display(_base(key)[0])


def parse_output(task: str, text: str):
    """A decoded output -> the task's structured answer (its metric family's parse); raises tags.FormatError when it
    does not parse."""
    try:
        return families.family_of(task).parse(text)
    except tags.FormatError as e:
        raise tags.FormatError(f"{task}: {e}") from None


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


def score_task(task: str, examples: list[Example], outputs: list[str], n_resamples: int = 1000,
               seed: int = 0) -> tuple[dict, list[dict]]:
    """Score one task with its metric family -> ({metric: {"value", "ci"}, "n", "format_errors"}, per-example rows)."""
    family = families.family_of(task)
    refs_text = [registry.target(ex) for ex in examples]
    parsed, ok = _parsed(task, outputs)
    scoring = families.Scoring(examples, outputs, parsed, ok, refs_text,
                               ci=lambda fn, r, h: _with_ci(fn, r, h, n_resamples, seed),
                               res={"n": len(examples), "format_errors": ok.count(False)}, per=[{} for _ in examples])
    family.score(scoring)
    res = scoring.res
    res[families.FORMAT_ERROR_RATE] = {"value": res["format_errors"] / max(len(examples), 1)}
    rows = [{"task": task, "audio": ex.get("audio"), "clip": ex.get("clip"), "prompt": registry.prompt_for(ex),
             "reference": r, "output": o, "parsed": p, "format_error": not k, "scores": sc}
            for ex, r, o, p, k, sc in zip(examples, refs_text, outputs, parsed, ok, scoring.per)]
    return res, rows


def score(examples: list[Example], outputs: list[str], n_resamples: int = 1000, seed: int = 0) -> tuple[dict, list[dict]]:
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


def _percent(key: str) -> bool:
    return families.is_percent(_base(key)[0])


def format_value(value: float, key: str) -> str:
    """One figure as the tables print it: % for rates and error rates, seconds or BLEU as they are."""
    return _fmt({"value": value}, key)


def _fmt(m: dict, key: str) -> str:
    v = m.get("value")
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    pct = _percent(key)
    f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}")
    ci = m.get("ci")
    return f"{f(v)} [{f(ci[0])}, {f(ci[1])}]" if ci else f(v)


def markdown_table(metrics: dict) -> str:
    """One row per task and metric: value with its 95 % CI (rates in %), n and format errors."""
    lines = ["| task | metric | value [95 % CI] | n | format errors |", "| --- | --- | --- | --- | --- |"]
    for task, res in metrics.items():
        keys = [k for k in res if isinstance(res[k], dict) and k != families.FORMAT_ERROR_RATE]
        for k in keys:
            suffix = _base(k)[1]
            name, higher = display(k)
            pct = " %" if _percent(k) else ""
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


def evaluate(model, cfg, examples: list[Example], out_dir: str | Path | None = None, num_beams: int | None = None,
             n_resamples: int = 1000, batch_seconds: float = 120.0, progress: bool = True,
             meta: dict | None = None, max_new_tokens: int | None = None, rank: int = 0, world_size: int = 1) -> dict:
    """Decode `examples` with `model`, score every task, and (with out_dir) write the outputs. -> metrics.

    max_new_tokens overrides the per-task caps (`Task.max_new_tokens`) for every task; num_beams None = the config's
    (cfg.decode, as is the joint CTC weight). In a multi-process job (`rank` of `world_size`) each rank decodes its
    share and every rank scores all outputs; give out_dir on one rank only."""
    outputs = run_on_ranks(model, cfg, [dict(ex) for ex in examples], rank, world_size, batch_seconds=batch_seconds,
                           num_beams=num_beams, progress=progress and rank == 0, max_new_tokens=max_new_tokens)
    metrics, rows = score(examples, outputs, n_resamples=n_resamples, seed=cfg.seed)
    if out_dir is not None:
        write(out_dir, metrics, rows, meta)
    return metrics


def eval_examples(cfg, manifest: str | Path | None = None, world_split: str | None = None,
                  tasks: list[str] | None = None, limit: int | None = None) -> tuple[list[Example], str]:
    """Validated examples from a manifest or a split of cfg's world (default tasks: those cfg trains on that
    the world makes), at most `limit` per task -> (examples, a short name for the source)."""
    if manifest is not None:
        examples, name = read_manifest(manifest, tasks, skip_hint=False), Path(manifest).stem
    else:
        trained = [t for t in (cfg.world.tasks or cfg.data.tasks) if t in world.TASKS]
        want = tasks or trained
        # the world the run trained on (one build, cached) when it makes every task asked for; a task subset is
        # read from its manifests, not built again as a world of its own
        root = world.build_world(cfg.world, cfg.world_seed, tasks=trained if set(want) <= set(trained) else want)
        examples, name = read_manifest(root / f"{world_split}.jsonl", want), f"world-{world_split}"
    if limit is not None:
        examples = [examples[i] for i in first_per_task(examples, limit)]
    return examples, name
