"""Interference probes over a finished ablation's runs: tag confusion, gradient conflict, constant answers.

    qa-lab ablate ablations/tags --probes          # after the table; files beside results.* in runs/tags/<scale>/
    probe_ablation(ab, runs_dir)                   # the same from Python (a loaded ablation, its runs folder)
    read_probes(folder)                            # the committed CSVs back, for notebooks 03 and 04

Files:
    tag_confusion.csv     arm, seed, prompted, form, rate   each seed's model; `per_task` test clips of every task,
                                                            each prompted with every task the arm trains
    grad_conflict.csv     arm, seed, task_a, task_b, cosine the run's logged cosines (trainer.grad_conflict_every_n_steps)
                                                            averaged over its second half of training
    constant_answers.csv  seed, task, metric, value, answer the best single answer on each seed's test set (the
                                                            answer is chosen on the test set itself: a strict bar)
    probes.md             the three summarised: answered-in-form rate per arm, mean pairwise cosine per arm, and
                          each task's headline metric per arm against its constant answer (learnt = better on
                          every seed)
    tag_confusion.png, grad_conflict.png   seed-averaged heat maps, one panel per arm
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from qa_lab.config import from_yaml
from qa_lab.core.checkpoint import load
from qa_lab.data.manifest import first_per_task
from qa_lab.eval import eval_examples
from qa_lab.eval.harness import display, format_value, score_task
from qa_lab.example import Example
from qa_lab.prompts import tasks as registry
from qa_lab.study import ablation as abl
from qa_lab.study.interference import (GRAD_CONFLICT_FILE, confusion_outputs, headline_metrics, read_grad_conflict,
                                       tag_confusion)
from qa_lab.study.plots import plot_matrices
from qa_lab.study.stats import mean_ci

CONFUSION, CONFLICT, CONSTANT, SUMMARY = "tag_confusion.csv", "grad_conflict.csv", "constant_answers.csv", "probes.md"
# Headlines that a constant cannot be held to: AAS averages over the words an answer matched, so one reference's
# transcript matches a few words closely (0.006 s). Such a task's bar is its transcript's WER instead.
BAR_METRIC = {"srwt": "srwt_wer"}
FREE_TEXT = ("wer", "aas", "bleu", "cider")  # metric families of answers that are sentences, not labels


def constant_answers(examples: list[Example]) -> list[dict]:
    """For each task in `examples`, the single answer (one of its reference answers) that scores best on its headline
    metric when given to every example -> rows {task, metric, value, answer}. The constant a model could learn
    without listening: a task is learnt only when the model beats it. A sentence (a transcript, a translation) is
    scored on the other clips only, so it does not get its own clip right by construction."""
    by_task: dict[str, list[dict]] = {}
    for ex in examples:
        by_task.setdefault(ex["task"], []).append(ex)
    rows = []
    for task, exs in by_task.items():
        best = None
        free_text = registry.get(task).metric in FREE_TEXT
        for answer, k in {a: k for k, a in reversed(list(enumerate(registry.target(ex) for ex in exs)))}.items():
            # a free-text answer is scored on the other clips only: on its own clip it is the reference, word for word
            scored = [ex for j, ex in enumerate(exs) if j != k] if free_text and len(exs) > 1 else exs
            res, _ = score_task(task, scored, [answer] * len(scored), n_resamples=0)
            flat = {f"{task}/{k}": float(v["value"]) for k, v in res.items()
                    if isinstance(v, dict) and isinstance(v.get("value"), (int, float)) and math.isfinite(v["value"])}
            head = headline_metrics(flat, [task])
            if task in BAR_METRIC and f"{task}/{BAR_METRIC[task]}" in flat:
                head = {f"{task}/{BAR_METRIC[task]}": display(BAR_METRIC[task])[1]}
            if not head:
                continue
            key, higher = next(iter(head.items()))
            value = flat[key]
            if best is None or (value > best[1] if higher else value < best[1]):
                best = (key, value, answer)
        if best is not None:
            rows.append({"task": task, "metric": best[0].split("/", 1)[1], "value": best[1], "answer": best[2]})
    return rows


def _write(path: Path, rows: list[dict], fields: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def probe_ablation(ab: abl.Ablation, runs_dir: str | Path, per_task: int = 4,
                   max_new_tokens: int | None = 48, device: str = "cpu", decode: bool = True) -> Path:
    """Tag confusion, gradient conflict and constant answers for every finished run of `ab` -> the folder written
    (the ablation's results folder). Decoding is greedy, `per_task` test clips per task, at most `max_new_tokens`.
    decode=False keeps the tag confusion already in the folder (no model is loaded) and redoes the rest: a summary
    brought up to date without decoding again."""
    root = abl.root_dir(ab, runs_dir)
    kept = [] if decode else read_probes(root)["confusion"]
    confusion, conflict, constants, seen = [], [], [], set()
    for seed in ab.seeds:
        for arm in ab.arms:
            d = abl.run_dir(ab, runs_dir, arm, seed)
            if not (d / abl.DONE).is_file():
                continue
            if decode:
                cfg, model = load(d / "checkpoints" / "last.ckpt")
            else:
                cfg, model = from_yaml(d / abl.RECIPE), None
                confusion += [{**r, "seed": int(r["seed"]), "rate": float(r["rate"])} for r in kept
                              if r["arm"] == arm and int(r["seed"]) == seed]
            examples, _ = eval_examples(cfg, world_split="test", tasks=list(cfg.data.tasks))
            for r in constant_answers([ex for ex in examples if (seed, ex["task"]) not in seen]):
                constants.append({"seed": seed, **r})
            seen |= {(seed, ex["task"]) for ex in examples}
            if decode and len(cfg.data.tasks) > 1:
                picked = [examples[i] for i in first_per_task(examples, per_task)]
                print(f"[qa-lab probes] {arm} seed {seed}: tag confusion over {len(picked)} clips x "
                      f"{len(cfg.data.tasks)} prompts")
                prompted, outputs = confusion_outputs(model.to(device).eval(), cfg, picked, list(cfg.data.tasks),
                                                      max_new_tokens=max_new_tokens)
                rows_, cols, m = tag_confusion(prompted, outputs, list(cfg.data.tasks))
                confusion += [{"arm": arm, "seed": seed, "prompted": r, "form": c, "rate": float(m[i, j])}
                              for i, r in enumerate(rows_) for j, c in enumerate(cols)]
            if (d / GRAD_CONFLICT_FILE).is_file() or (d / "logs" / GRAD_CONFLICT_FILE).is_file():
                records = read_grad_conflict(d)
                late = [r for r in records if r["step"] >= records[-1]["step"] / 2]
                names = late[0]["tasks"]
                cos = np.nanmean(np.stack([r["cosine"] for r in late]), axis=0)
                conflict += [{"arm": arm, "seed": seed, "task_a": a, "task_b": b, "cosine": float(cos[i, j])}
                             for i, a in enumerate(names) for j, b in enumerate(names) if i < j]
    _write(root / CONFUSION, confusion, ["arm", "seed", "prompted", "form", "rate"])
    _write(root / CONFLICT, conflict, ["arm", "seed", "task_a", "task_b", "cosine"])
    _write(root / CONSTANT, constants, ["seed", "task", "metric", "value", "answer"])
    results = abl.collect(ab, runs_dir)
    (root / SUMMARY).write_text(summary(ab, results, confusion, conflict, constants), encoding="utf-8")
    draw(root, list(ab.arms))
    print(f"[qa-lab probes] {root / SUMMARY}, {CONFUSION}, {CONFLICT}, {CONSTANT} and heat maps in {root}")
    return root


def _ci(values: list[float], pct: bool = True) -> str:
    if not values:
        return "—"
    m, lo, hi = mean_ci(values)
    f = (lambda v: f"{100 * v:.1f}") if pct else (lambda v: f"{v:+.3f}")
    return f"{f(m)} [{f(lo)}, {f(hi)}]" if math.isfinite(lo) else f(m)


def in_form_rates(confusion: list[dict]) -> dict[tuple[str, int], float]:
    """(arm, seed) -> the rate of answering in the prompted task's form, averaged over prompted tasks."""
    out: dict[tuple[str, int], list[float]] = {}
    for r in confusion:
        if r["prompted"] == r["form"]:
            out.setdefault((r["arm"], int(r["seed"])), []).append(float(r["rate"]))
    return {k: float(np.mean(v)) for k, v in out.items()}


def summary(ab: abl.Ablation, results: list[dict], confusion: list[dict], conflict: list[dict],
            constants: list[dict]) -> str:
    """probes.md: the three probes as markdown tables (means [95 % CI] over seeds)."""
    arms = list(ab.arms)
    lines = [f"# Interference probes: {ab.name}", "",
             f"Arms {', '.join(arms)}; seeds {ab.seeds}; scale `{ab.scale}`. Made by `qa-lab ablate "
             f"{ab.path.stem if ab.path else ab.name} --probes` (qa_lab.study.probes).", ""]
    rates = in_form_rates(confusion)
    if rates:
        lines += ["## Tag confusion", "",
                  "Each arm's model prompted with every task it trains on the same test clips (greedy); the rate of "
                  "answers in the asked task's form, averaged over prompted tasks (plain-text forms cannot be told "
                  "apart, so a plain answer to a plain-text prompt counts as in form). Mean [95 % CI] over seeds, %.",
                  "", "| arm | answered in the asked form |", "| --- | --- |"]
        lines += [f"| {arm} | {_ci([v for (a, _), v in rates.items() if a == arm])} |" for arm in arms
                  if any(a == arm for a, _ in rates)]
        lines.append("")
    if conflict:
        lines += ["## Gradient conflict", "",
                  "Cosine between two tasks' gradients on a fixed probe batch, averaged over the second half of "
                  "training, then over task pairs: below 0 the tasks pull the shared weights apart. Mean [95 % CI] "
                  "over seeds; the most conflicting pair per arm (seed mean).", "",
                  "| arm | mean pairwise cosine | pairs below 0 | most conflicting pair |", "| --- | --- | --- | --- |"]
        for arm in arms:
            rows = [r for r in conflict if r["arm"] == arm]
            if not rows:
                continue
            per_seed = {}
            pairs: dict[tuple[str, str], list[float]] = {}
            for r in rows:
                per_seed.setdefault(int(r["seed"]), []).append(float(r["cosine"]))
                pairs.setdefault((r["task_a"], r["task_b"]), []).append(float(r["cosine"]))
            means = {p: float(np.nanmean(v)) for p, v in pairs.items()}
            worst = min(means, key=means.get)
            below = sum(v < 0 for v in means.values())
            lines.append(f"| {arm} | {_ci([float(np.nanmean(v)) for v in per_seed.values()], pct=False)} | "
                         f"{below} of {len(means)} | {worst[0]} / {worst[1]} ({means[worst]:+.3f}) |")
        lines.append("")
    if constants:
        const: dict[tuple[str, str], dict[int, float]] = {}
        for r in constants:
            const.setdefault((r["task"], r["metric"]), {})[int(r["seed"])] = float(r["value"])
        lines += ["## Against the constant answer", "",
                  "Each task's headline metric (world test split, the LLM's answers; SRWT: its transcript's WER, as AAS "
                  "over matched words cannot hold a constant to account) per arm, mean over seeds, against the best "
                  "constant answer chosen on the same test clips. `learnt` = better than the constant on every seed; "
                  "`no` = not better on any. Rates in %.", "",
                  "| task | metric | constant | " + " | ".join(arms) + " |",
                  "| --- | --- | --- | " + " | ".join("---" for _ in arms) + " |"]
        for (task, metric), by_seed in const.items():
            name, higher = display(metric)
            cells = []
            for arm in arms:
                vals = {int(r["seed"]): float(r["value"]) for r in results
                        if r["arm"] == arm and r["task"] == task and r["metric"] == metric
                        and r["eval"] == abl._eval_name(ab.eval[0])}
                if not vals:
                    cells.append("—")
                    continue
                beats = [(v > by_seed[s]) if higher else (v < by_seed[s]) for s, v in vals.items() if s in by_seed]
                word = "learnt" if beats and all(beats) else "no" if not any(beats) else f"{sum(beats)}/{len(beats)}"
                cells.append(f"{format_value(float(np.mean(list(vals.values()))), metric)} ({word})")
            c = float(np.mean(list(by_seed.values())))
            lines.append(f"| {task} | {name} | {format_value(c, metric)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def read_probes(folder: str | Path) -> dict[str, list[dict]]:
    """The probe CSVs of a results folder -> {"confusion", "conflict", "constants"} row lists ([] when absent)."""
    folder = Path(folder)
    out = {}
    for key, name in (("confusion", CONFUSION), ("conflict", CONFLICT), ("constants", CONSTANT)):
        p = folder / name
        out[key] = list(csv.DictReader(p.open(encoding="utf-8"))) if p.is_file() else []
    return out


def mean_matrix(rows: list[dict], arm: str, row_key: str, col_key: str, value_key: str,
                symmetric: bool = False) -> tuple[list[str], list[str], np.ndarray]:
    """One arm's rows averaged over seeds into a matrix -> (row names, column names, matrix); nan where missing.
    `symmetric` mirrors pair rows (task_a, task_b) and puts 1 on the diagonal (gradient cosines)."""
    cells: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r["arm"] != arm:
            continue
        cells.setdefault((r[row_key], r[col_key]), []).append(float(r[value_key]))
        if symmetric:
            cells.setdefault((r[col_key], r[row_key]), []).append(float(r[value_key]))
    names_r = list(dict.fromkeys(k[0] for k in cells))
    names_c = list(dict.fromkeys(k[1] for k in cells))
    if symmetric:
        names_r = names_c = list(dict.fromkeys(names_r + names_c))
    m = np.full((len(names_r), len(names_c)), np.nan)
    for (a, b), v in cells.items():
        m[names_r.index(a), names_c.index(b)] = float(np.nanmean(v))
    if symmetric:
        np.fill_diagonal(m, 1.0)
    return names_r, names_c, m


def draw(folder: str | Path, arms: list[str]) -> list[Path]:
    """tag_confusion.png and grad_conflict.png from a folder's probe CSVs (seed means, one panel per arm)."""
    folder = Path(folder)
    data = read_probes(folder)
    written = []
    for key, name, spec in (("confusion", "tag_confusion.png", ("prompted", "form", "rate", False)),
                            ("conflict", "grad_conflict.png", ("task_a", "task_b", "cosine", True))):
        present = [a for a in arms if any(r["arm"] == a for r in data[key])]
        if not present:
            continue
        mats = {a: mean_matrix(data[key], a, *spec) for a in present}
        fig = plot_matrices(mats, diverging=spec[3],
                            label="gradient cosine (second half, seed mean)" if spec[3] else "rate (seed mean)")
        fig.savefig(folder / name, dpi=110)
        written.append(folder / name)
    return written
