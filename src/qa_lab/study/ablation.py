"""Ablations: every arm x seed trained and evaluated, then one table with CIs.

A world test set is built with each run's seed (the world is a function of the seed), so the arms of one seed
share their test clips and different seeds see different ones, unless the scale fixes `world.seed` (one world for
every seed, built and encoded once: what scale/cpu-evidence does to fit its budget). A manifest eval set is the same
for every run. Differences are paired by seed for that reason.

An ablation file (experiments/ablations/*.yaml with an `arms:` key) names its arms (experiment yamls that
differ in one thing), the scale merged over every arm, the seeds, the evaluation sets and the metrics:

    # Hypothesis: ... Run: qa-lab ablate ablations/srwt
    name: srwt
    arms: {srwt_on: ablations/srwt_on, srwt_off: ablations/srwt_off}
    baseline: srwt_off            # differences are reported as arm - baseline
    scale: scale/tiny-cpu         # model size, steps, world size: the same for every arm
    seeds: [0, 1, 2]
    eval:                         # evaluation sets; each may take limit, tasks, max_new_tokens, name, and decode
      - world: test               # overrides for that set alone (e.g. {times: ctc}: named world-test.times-ctc);
                                  # tasks: trained scores each arm on its own data.tasks only
    metrics: [grounding/iou, aqa/accuracy[temporal], asr/wer[en]]

Runs land in runs/<name>/<scale>/<arm>/seed<k>/ (a fixed folder per run, so the runner can resume): a finished run
(DONE) is never redone (an eval set added to the file since is evaluated on it); a run whose training was interrupted resumes from its last checkpoint; a trained
run whose evaluation was interrupted is evaluated again. Each run folder keeps the resolved config it was made with
(recipe.yaml): when the recipe has changed since (an edited scale or arm, other overrides), the old folder is moved
aside to seed<k>.stale-<time> and the run is made afresh, so a table never mixes recipes.
"""

from __future__ import annotations

import csv
import gc
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import wait
from pathlib import Path

import torch
from omegaconf import OmegaConf

from qa_lab.config import (Config, ConfigError, DecodeConfig, differences, experiment_path, from_yaml_text,
                           load_config, to_yaml)
from qa_lab.core.build import build_model
from qa_lab.core.checkpoint import load
from qa_lab.data.dataset import AudioDataModule
from qa_lab.errors import TrainingStopped
from qa_lab.eval import eval_examples, evaluate, load_metrics
from qa_lab.eval.families import family_of
from qa_lab.eval.harness import display
from qa_lab.heap import hand_back_freed_memory
from qa_lab.study import provenance
from qa_lab.study import stats
from qa_lab.study.plots import plot_ablation, plot_learning_curves
from qa_lab.train.memory import GB, PeakMemory
from qa_lab.train.quiet import quiet_libraries
from qa_lab.train.run import feature_cache, train, with_parts
from qa_lab.world import builder as world_builder

DONE, TRAINED, RECIPE, TIMING = "DONE", "TRAINED", "recipe.yaml", "timing.json"
EVAL_KEYS = {"world", "manifest", "limit", "tasks", "max_new_tokens", "decode", "name"}


@dataclass
class Ablation:
    """A parsed ablation file."""
    name: str
    path: Path
    arms: dict[str, str]
    seeds: list[int]
    eval: list[dict]
    metrics: list[str]
    scale: str | None = None
    baseline: str | None = None
    hypothesis: str = ""
    overrides: list[str] = field(default_factory=list)


def load_ablation(path: str | Path) -> Ablation:
    """Read and check an ablation file; errors name the file and key."""
    p = experiment_path(path)
    try:
        raw = OmegaConf.to_container(OmegaConf.load(p))
    except Exception as e:  # yaml syntax errors come in many types
        raise ConfigError(f"{p}: cannot parse yaml ({str(e).splitlines()[0]}); quote metrics like \"asr/wer[en]\" "
                          "inside [ ] lists") from None
    if not isinstance(raw, dict) or "arms" not in raw:
        raise ConfigError(f"{p}: not an ablation file (it needs an `arms:` mapping of arm name -> experiment)")
    known = {"name", "arms", "seeds", "eval", "metrics", "scale", "baseline", "overrides"}
    bad = sorted(set(raw) - known)
    if bad:
        raise ConfigError(f"{p}: unknown key(s) {bad}; an ablation file has {sorted(known)}")
    arms = raw["arms"]
    if isinstance(arms, dict) and any(not isinstance(k, str) for k in arms):
        raise ConfigError(f"{p}: arm names must be strings; yaml reads on/off/yes/no as booleans, quote them "
                          f"(got {list(arms)})")
    if not isinstance(arms, dict) or len(arms) < 2:
        raise ConfigError(f"{p}: arms: name at least two arms (name: experiment)")
    for arm, exp in arms.items():
        experiment_path(exp)  # raises naming the missing experiment
    first = p.read_text().splitlines()[0] if p.read_text() else ""
    baseline = raw.get("baseline") or list(arms)[-1]
    if baseline not in arms:
        raise ConfigError(f"{p}: baseline {baseline!r} is not one of the arms {list(arms)}")
    evals = raw.get("eval") or [{"world": "test"}]
    for e in evals:
        if not isinstance(e, dict) or not ({"world", "manifest"} & set(e)) or set(e) - EVAL_KEYS:
            raise ConfigError(f"{p}: eval entries are {{world: SPLIT}} or {{manifest: PATH}} (optional: "
                              f"{', '.join(sorted(EVAL_KEYS - {'world', 'manifest'}))}); got {e!r}")
        try:
            DecodeConfig(**(e.get("decode") or {}))
        except TypeError:
            raise ConfigError(f"{p}: eval entry {e!r}: decode keys are {', '.join(DecodeConfig.__dataclass_fields__)}"
                              ) from None
        except ConfigError as err:
            raise ConfigError(f"{p}: eval entry {e!r}: {err}") from None
        if isinstance(e.get("tasks"), str) and e["tasks"] != TRAINED_TASKS:
            raise ConfigError(f"{p}: eval entry {e!r}: tasks is a list of tasks or {TRAINED_TASKS!r} (each arm's "
                              "own data.tasks)")
    names = [_eval_name(e) for e in evals]
    if len(set(names)) < len(names):
        raise ConfigError(f"{p}: two eval entries share a name ({', '.join(names)}); give one a `name:`")
    metrics = raw.get("metrics") or []
    for m in metrics:
        if "/" not in m:
            raise ConfigError(f"{p}: metrics are task/metric (e.g. grounding/iou); got {m!r}")
    return Ablation(name=raw.get("name") or p.stem, path=p, arms=dict(arms), seeds=list(raw.get("seeds") or [0]),
                    eval=evals, metrics=metrics, scale=raw.get("scale"), baseline=baseline,
                    hypothesis=first.removeprefix("#").strip(), overrides=list(raw.get("overrides") or []))


def _keys(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        if k == "parent":
            continue
        out |= _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return out


def arm_config(ab: Ablation, arm: str, seed: int, overrides: list[str] | tuple = ()) -> Config:
    """The config of one run: the arm's experiment <- the scale <- the ablation's overrides, seed, `overrides`."""
    exp = ab.arms[arm]
    if ab.scale:
        arm_keys = _keys(OmegaConf.to_container(OmegaConf.load(experiment_path(exp))))
        scale_keys = _keys(OmegaConf.to_container(OmegaConf.load(experiment_path(ab.scale))))
        clash = sorted(arm_keys & scale_keys)
        if clash:
            raise ConfigError(f"{experiment_path(exp)} and {experiment_path(ab.scale)} both set {clash}: an arm changes "
                              "what is ablated, the scale sets size and budget; they must not overlap")
    return load_config(exp, [*ab.overrides, f"seed={seed}", *overrides], layers=[ab.scale] if ab.scale else [])


def root_dir(ab: Ablation, runs_dir: str | Path) -> Path:
    """runs/<ablation>/<scale>/: one folder per scale, so a GPU rerun never mixes with the CPU runs."""
    return Path(runs_dir) / ab.name / (Path(ab.scale).name if ab.scale else "default")


def run_dir(ab: Ablation, runs_dir: str | Path, arm: str, seed: int) -> Path:
    return root_dir(ab, runs_dir) / arm / f"seed{seed}"


def _eval_name(e: dict) -> str:
    """The folder and table name of an eval entry: `name`, else the source plus its decode overrides
    (world-test.times-ctc)."""
    if e.get("name"):
        return str(e["name"])
    base = f"world-{e['world']}" if "world" in e else Path(e["manifest"]).stem
    return base + "".join(f".{k}-{v}" for k, v in sorted((e.get("decode") or {}).items()))


TRAINED_TASKS = "trained"  # `tasks: trained` in an eval entry: each arm is scored on its own data.tasks
FRAME_TIMED = ("srwt", "grounding")  # tasks whose times decode.times=ctc takes from the frames, not the LLM


def _shown_metric(e: dict, task_metric: str) -> str:
    """A metric's name in the tables: `[frames]` marks a figure timed by the frames' aligner (decode.times=ctc), so it
    is never read as what the LLM writes (srwt/aas against srwt/aas[frames])."""
    task = task_metric.split("/", 1)[0]
    frames = (e.get("decode") or {}).get("times") == "ctc" and task in FRAME_TIMED
    return f"{task_metric}[frames]" if frames else task_metric


def _recipe_changes(path: Path, cfg) -> list[str] | None:
    """The keys in which the recipe stored at `path` differs from `cfg` ([] = the same recipe); None when there is
    no readable recipe. Keys added to the kit since it was written read as their defaults, so a new config key at its
    default does not invalidate finished or half-trained runs."""
    if not path.is_file():
        return None
    try:
        return list(differences(from_yaml_text(path.read_text(), str(path)), cfg))
    except ConfigError:  # a key the kit no longer has
        return None


def _same_recipe(path: Path, cfg) -> bool:
    return _recipe_changes(path, cfg) == []


def _evals(ab: Ablation, cfg, label: str = "") -> list[dict]:
    """The eval entries a run can be scored on: times from the frames (decode.times: ctc) need a model trained with
    the CTC loss, so a scale without it (e.g. scale/qwen-audio-7b) leaves those entries out, saying so."""
    out = []
    for e in ab.eval:
        if (e.get("decode") or {}).get("times") == "ctc" and cfg.model.ctc_weight == 0:
            if label:
                print(f"[qa-lab ablate] {label}: {_eval_name(e)} left out (decode.times=ctc needs model.ctc_weight > 0)")
            continue
        out.append(e)
    return out


EVAL_ONLY = ("decode.",)  # keys that change how answers are decoded, not what is trained


def run_one(ab: Ablation, arm: str, seed: int, runs_dir: str | Path, overrides=(), progress_line: int = 0) -> Path:
    """Train (or resume) and evaluate one arm x seed; a run marked DONE is returned untouched."""
    d = run_dir(ab, runs_dir, arm, seed)
    cfg = arm_config(ab, arm, seed, overrides)
    recipe = to_yaml(cfg)
    changes = _recipe_changes(d / RECIPE, cfg) if d.is_dir() and any(d.iterdir()) else []
    stamp = time.strftime('%Y%m%d-%H%M%S')
    if changes is None or any(not k.startswith(EVAL_ONLY) for k in changes):
        stale = d.with_name(f"{d.name}.stale-{stamp}")
        d.rename(stale)
        print(f"[qa-lab ablate] {arm} seed {seed}: {d} was made with another recipe; moved to {stale.name}, redoing")
    elif changes:  # only decoding changed: the trained weights stand, the evaluation is redone (the old one kept)
        (d / DONE).unlink(missing_ok=True)
        if (d / "eval").is_dir():
            (d / "eval").rename(d / f"eval.before-{stamp}")
        print(f"[qa-lab ablate] {arm} seed {seed}: decoding changed ({', '.join(changes)}); evaluating again")
    todo = [e for e in _evals(ab, cfg, f"{arm} seed {seed}")
            if not (d / "eval" / _eval_name(e) / "metrics.json").is_file()]
    if (d / DONE).is_file():
        if not todo:
            print(f"[qa-lab ablate] {arm} seed {seed}: done, skipped ({d})")
            return d
        (d / DONE).unlink()  # an eval set added to the ablation since: evaluated on the finished run
    d.mkdir(parents=True, exist_ok=True)
    (d / RECIPE).write_text(recipe)
    last = d / "checkpoints" / "last.ckpt"
    if not (d / TRAINED).is_file():
        resume = last if last.is_file() else None
        print(f"[qa-lab ablate] {arm} seed {seed}: {'resuming from ' + str(resume) if resume else 'training'}")
        started = time.time()
        train(cfg, resume=resume, source_yaml=experiment_path(ab.arms[arm]), report_examples=0, run_dir=d,
              label=f"{arm} seed {seed}", verbose=False, progress_line=progress_line)
        took = time.time() - started  # a resumed run's is this attempt's share of the steps: no rate given
        (d / TIMING).write_text(json.dumps({"train_s": round(took, 1), "steps": cfg.trainer.steps,
                                            "steps_per_s": None if resume else round(cfg.trainer.steps / took, 3),
                                            "resumed_from": str(resume) if resume else None}) + "\n")
        (d / TRAINED).write_text("")
    gc.collect()  # the trainer's model, optimiser and data are garbage now: their pages go back before a second model
    hand_back_freed_memory()
    _, model = load(last)
    if torch.cuda.is_available():  # checkpoints load on the CPU; decode where training ran
        model = model.to("cuda")
    for e in todo:
        tasks = list(cfg.data.tasks) if e.get("tasks") == TRAINED_TASKS else e.get("tasks")
        examples, _ = eval_examples(cfg, manifest=e.get("manifest"), world_split=e.get("world"), tasks=tasks,
                                    limit=e.get("limit"))
        ecfg = replace(cfg, decode=replace(cfg.decode, **e["decode"])) if e.get("decode") else cfg
        print(f"[qa-lab ablate] {arm} seed {seed}: evaluating {len(examples)} examples of {_eval_name(e)}")
        evaluate(model, ecfg, examples, d / "eval" / _eval_name(e), n_resamples=0, progress=False,
                 meta={"arm": arm, "seed": seed, "ablation": ab.name}, max_new_tokens=e.get("max_new_tokens"))
    (d / DONE).write_text("")
    return d


def resolve(path: str | Path, seeds: int | None = None, scale: str | None = None) -> Ablation:
    """The ablation file as a run of it sees it: `scale` replaces the file's, `seeds` takes the first that many of
    the file's seeds (extended upwards when more are asked)."""
    ab = load_ablation(path)
    if scale:
        experiment_path(scale)
        ab.scale = scale
    if seeds is not None:
        ab.seeds = (ab.seeds + [s for s in range(max(ab.seeds) + 1, max(ab.seeds) + 1 + seeds)])[:seeds]
    return ab


def default_runs_dir(ab: Ablation, overrides=()) -> Path:
    """Where the runs go unless told: the first run's config's runs_dir."""
    return Path(arm_config(ab, next(iter(ab.arms)), ab.seeds[0], overrides).runs_dir)


def run_ablation(path: str | Path, seeds: int | None = None, overrides: list[str] | tuple = (),
                 runs_dir: str | Path | None = None, scale: str | None = None, jobs: int = 1) -> Path:
    """Every arm x seed (the first `seeds` of the file's seeds, extended upwards when more are asked), then the
    summary. `scale` replaces the file's scale (e.g. scale/mini-gpu). `jobs` > 1 trains and evaluates that many runs
    at once in their own processes, the cores shared between them (run_parallel)."""
    ab = resolve(path, seeds, scale)
    runs_dir = Path(runs_dir or default_runs_dir(ab, overrides))
    runs = [(arm, seed) for seed in ab.seeds for arm in ab.arms]
    start, code = time.time(), provenance.git_state()  # the code that runs: a commit made meanwhile is not it
    with PeakMemory() as memory:
        if jobs > 1:
            run_parallel(ab, runs, runs_dir, overrides, jobs)
        else:
            for arm, seed in runs:
                run_one(ab, arm, seed, runs_dir, overrides)
    root = summarize(ab, runs_dir)
    timings = {f"{arm} seed {seed}": json.loads((run_dir(ab, runs_dir, arm, seed) / TIMING).read_text())
               for arm, seed in runs if (run_dir(ab, runs_dir, arm, seed) / TIMING).is_file()}
    provenance.write(root / "provenance.json", start, time.time(),
                     [to_yaml(arm_config(ab, arm, seed, overrides)) for arm, seed in runs], timings, memory.peak,
                     code=code)
    wall = time.time() - start
    print(f"[qa-lab ablate] wall time {int(wall // 60)} min {int(wall % 60)} s, peak memory {memory.peak / GB:.1f} GB "
          f"resident over all its processes ({provenance.cpu_model()}); provenance: {root / 'provenance.json'}")
    return root


def prepare(ab: Ablation, arm: str, seed: int, overrides=()) -> None:
    """Make what a run shares with the others before it starts: the pretrained parts, the world (train, val and test
    splits) and the frozen tower's features of its training clips. Each is cached, so runs started after this only
    read them, and parallel runs never build the same thing twice at once."""
    cfg, _ = with_parts(arm_config(ab, arm, seed, overrides))
    model = build_model(cfg)
    AudioDataModule(cfg, model.tokenizer, feature_cache(cfg, model), front=model.front,
                    world=world_builder.build_for).setup()


def _prepare_runs(ab: Ablation, runs: list[tuple[str, int]], overrides, send) -> None:
    """prepare() for each run, in the process run_parallel starts for it; sends back None or the error raised."""
    quiet_libraries()
    try:
        for arm, seed in runs:
            prepare(ab, arm, seed, overrides)
    except Exception as e:  # noqa: BLE001 -- handed to the parent, which raises it (the CLI prints it)
        try:
            send.send(e)
        except Exception:  # noqa: BLE001 -- an error that does not pickle goes back as its text
            send.send(RuntimeError(f"{type(e).__name__}: {e}"))
        sys.exit(1)
    send.send(None)


def _run_in_process(ab: Ablation, arm: str, seed: int, runs_dir: Path, overrides, threads: int, line: int) -> None:
    """A parallel run's process: exit code 0 done, 128 + the signal when stopped by one (the step saved)."""
    quiet_libraries()
    torch.set_num_threads(threads)
    try:
        run_one(ab, arm, seed, runs_dir, overrides, progress_line=line)
    except TrainingStopped as e:
        print(f"[qa-lab ablate] {arm} seed {seed}: {e}", file=sys.stderr, flush=True)
        sys.exit(128 + e.signum)


def run_parallel(ab: Ablation, runs: list[tuple[str, int]], runs_dir: str | Path, overrides=(), jobs: int = 2) -> None:
    """Train and evaluate `runs` (arm, seed) `jobs` at a time, each in its own process with cores // jobs threads.

    Measured on a 2-core CPU (docs/ablations.md): two one-thread runs at once finish 1.4x sooner than one after the other
    with two threads each, because a tiny model's ops gain little from a second thread. For a CPU machine; on GPUs
    scale one run with Lightning's strategies instead. The shared inputs are prepared first (prepare). A failed run
    does not stop the others: the finished ones are kept and the failures named at the end. SIGTERM is passed on to
    the running runs (each saves its step; Ctrl-C reaches them from the terminal); no new run starts after it."""
    runs_dir = Path(runs_dir)
    todo = list(runs)  # a finished run's process only checks it (a new eval set, a changed recipe) and ends
    ctx = mp.get_context("spawn")  # a fresh interpreter per run: no forked torch threads or CUDA state
    untrained = [(arm, seed) for arm, seed in todo if not (run_dir(ab, runs_dir, arm, seed) / TRAINED).is_file()]
    if untrained:  # in a process of its own, which then ends: building parts and world and encoding leave GBs
        # resident in the process that did it (the parent held 5.9 GB while it waited for the arms). Not a Pool: its
        # daemonic worker could not start the world builder's processes. Its error is raised here, as if local.
        receive, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_prepare_runs, args=(ab, untrained, list(overrides), send), name="prepare")
        p.start()
        send.close()
        try:
            error = receive.recv()
        except EOFError:  # the process ended without a word (killed): its exit code says how
            error = None
        p.join()
        if error is not None:
            raise error
        if p.exitcode != 0:
            raise RuntimeError(f"preparing the runs' parts, world and features failed (exit code {p.exitcode})")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    running: dict = {}  # sentinel -> (process, arm, seed, line)
    free, failed, stopped = list(range(jobs)), [], []

    def on_signal(signum, frame):
        stopped.append(signum)
        if signum == signal.SIGTERM:
            for p, *_ in running.values():
                p.terminate()  # SIGTERM: the run saves the step it reached and exits
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while todo or running:
            while todo and free and not stopped:
                arm, seed = todo.pop(0)
                line = free.pop(0)
                p = ctx.Process(target=_run_in_process, args=(ab, arm, seed, runs_dir, list(overrides), threads, line),
                                name=f"{arm}-seed{seed}")
                p.start()
                running[p.sentinel] = (p, arm, seed, line)
            if not running:
                break
            for sentinel in wait(list(running)):
                p, arm, seed, line = running.pop(sentinel)
                p.join()
                free.append(line)
                if p.exitcode not in (0, None) and p.exitcode - 128 not in (signal.SIGTERM, signal.SIGINT):
                    failed.append(f"{arm} seed {seed} (exit code {p.exitcode})")
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if stopped:
        raise TrainingStopped(stopped[0])
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(runs)} runs failed: {', '.join(failed)} (their errors are printed "
                           "above); the others are kept. Run the same command again to redo the failed ones.")


def collect(ab: Ablation, runs_dir: str | Path) -> list[dict]:
    """One row per finished run x eval set x task x metric: {arm, seed, eval, task, metric, value}."""
    rows = []
    for arm in ab.arms:
        for seed in ab.seeds:
            d = run_dir(ab, runs_dir, arm, seed)
            if not (d / DONE).is_file():
                continue
            for e in ab.eval:
                if not (d / "eval" / _eval_name(e) / "metrics.json").is_file():  # an entry this run is not scored on
                    continue
                metrics = load_metrics(d / "eval" / _eval_name(e))
                for task, res in metrics.items():
                    for key, m in res.items():
                        v = m.get("value") if isinstance(m, dict) else None
                        if v is not None and math.isfinite(float(v)):  # n/a figures (e.g. no matched words) left out
                            rows.append({"arm": arm, "seed": seed, "eval": _eval_name(e), "task": task,
                                         "metric": key, "value": float(m["value"])})
    return rows


def _higher_is_better(metric: str) -> bool:
    return display(metric)[1]


def _by_seed(rows: list[dict], arm: str, ev: str, task: str, metric: str) -> dict[int, float]:
    """One arm's values of one metric on one eval set, by seed."""
    return {r["seed"]: r["value"] for r in rows
            if r["arm"] == arm and r["eval"] == ev and r["task"] == task and r["metric"] == metric}


def summary_table(ab: Ablation, rows: list[dict]) -> str:
    """Markdown: per eval set and metric, mean [95 % CI] per arm over seeds, and each arm minus the baseline
    paired by seed, with a plain-words verdict that says when a difference is not significant."""
    arms = list(ab.arms)
    others = [a for a in arms if a != ab.baseline]
    head = ["eval", "metric", *arms, *[f"{a} − {ab.baseline}" for a in others], "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    wanted = ab.metrics or sorted({f"{r['task']}/{r['metric']}" for r in rows})
    fmt = lambda x: "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"  # noqa: E731
    for e in ab.eval:
        ev = _eval_name(e)
        for tm in wanted:
            task, metric = tm.split("/", 1)
            by_arm = {a: _by_seed(rows, a, ev, task, metric) for a in arms}
            if not any(by_arm.values()):  # a metric this eval set does not measure (e.g. one limited to some tasks)
                continue
            cells = []
            for a in arms:
                v = list(by_arm[a].values())
                if not v:
                    cells.append("—")
                    continue
                m, lo, hi = stats.mean_ci(v)
                cells.append(fmt(m) + ("" if math.isnan(lo) else f" [{fmt(lo)}, {fmt(hi)}]") + f" (n={len(v)})")
            verdicts = []
            for a in others:
                seeds = sorted(set(by_arm[a]) & set(by_arm[ab.baseline]))
                if not seeds:
                    cells.append("—")
                    continue
                d = stats.paired_difference([by_arm[a][s] for s in seeds], [by_arm[ab.baseline][s] for s in seeds])
                ci = "" if math.isnan(d["lo"]) else f" [{fmt(d['lo'])}, {fmt(d['hi'])}]"
                cells.append(f"{fmt(d['diff'])}{ci}")
                verdicts.append(stats.verdict(d, _higher_is_better(metric), names=(a, ab.baseline)))
            lines.append(f"| {ev} | {_shown_metric(e, tm)} | " + " | ".join(cells) + f" | {'; '.join(verdicts) or '—'} |")
    return "\n".join(lines)


def _trained_tasks(cfg) -> set[str]:
    return {t for t in cfg.data.tasks if cfg.data.task_weights.get(t, 1.0) > 0}


def treatment_check(ab: Ablation, rows: list[dict]) -> list[str]:
    """Did the treatment take? For each arm that trains a task the baseline does not (srwt_on's SRWT), its scores on
    that task against the baseline's, from the LLM's own answers (eval sets that do not take times from the frames),
    paired by seed. Lines of markdown; none when the arms train the same tasks (e.g. tag formats)."""
    base_tasks = _trained_tasks(arm_config(ab, ab.baseline, ab.seeds[0]))
    own_evals = [_eval_name(e) for e in ab.eval if (e.get("decode") or {}).get("times") != "ctc"]
    lines = []
    for arm in (a for a in ab.arms if a != ab.baseline):
        for task in sorted(_trained_tasks(arm_config(ab, arm, ab.seeds[0])) - base_tasks):
            metrics = [m.split("/", 1)[1] for m in ab.metrics if m.split("/", 1)[0] == task] \
                or list(family_of(task).headline)
            detail, took, wrong = [], [], []
            for ev in own_evals:
                for metric in metrics:
                    vals = {a: _by_seed(rows, a, ev, task, metric) for a in (arm, ab.baseline)}
                    if not vals[arm]:
                        continue
                    seeds = sorted(set(vals[arm]) & set(vals[ab.baseline]))
                    mine = sum(vals[arm].values()) / len(vals[arm])
                    if metric.split("[")[0].endswith(("wer", "cer")) and mine >= 0.5:
                        wrong.append(f"{task}/{metric} {100 * mine:.1f} %")
                    if not seeds:
                        detail.append(f"- {ev}, {task}/{metric}: {arm} {mine:.3f}; {ab.baseline} has no such figure")
                        continue
                    d = stats.paired_difference([vals[arm][s] for s in seeds], [vals[ab.baseline][s] for s in seeds])
                    higher = _higher_is_better(metric)
                    took.append(None if not math.isfinite(d["lo"])
                                else d["significant"] and (d["diff"] > 0) == higher)
                    theirs = sum(vals[ab.baseline][s] for s in seeds) / len(seeds)
                    detail.append(f"- {ev}, {task}/{metric}: {arm} {mine:.3f}, {ab.baseline} {theirs:.3f}: "
                                  + stats.verdict(d, higher, names=(arm, ab.baseline)))
            if not took:
                verdict = "no figure on that task in both arms to tell"
            elif None in took:
                verdict = "cannot tell from one seed"
            elif all(took) and wrong:
                verdict = (f"barely: better on its own task than the arm that never trained it, but at "
                           f"{', '.join(wrong)} most of its answers' words are wrong")
            elif all(took):
                verdict = "yes: better on its own task than the arm that never trained it"
            else:
                verdict = ("**no**: not better on its own task than the arm that never trained it, so the table "
                           "cannot say what the task does")
            lines += [f"{arm} trains {task}, {ab.baseline} does not. Treatment took? {verdict}.", "", *detail, ""]
    return lines[:-1]


def summarize(ab: Ablation, runs_dir: str | Path) -> Path:
    """results.csv, results.md and a plot of the headline metrics under runs/<ablation>/."""
    root = root_dir(ab, runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    rows = collect(ab, runs_dir)
    with (root / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["arm", "seed", "eval", "task", "metric", "value"])
        w.writeheader()
        w.writerows(rows)
    table = summary_table(ab, rows)
    took = treatment_check(ab, rows)
    took_md = ("\n## Treatment took?\n\n" + "\n".join(took) + "\n") if took else ""
    (root / "results.md").write_text(f"# Ablation {ab.name}\n\n{ab.hypothesis}\n\nArms: "
                                     + ", ".join(f"`{a}` ({e})" for a, e in ab.arms.items())
                                     + f"; scale `{ab.scale}`; seeds {ab.seeds}; mean [95 % CI] over seeds "
                                     "(Student t); differences paired by seed. `[frames]`: timed by the frames' "
                                     "aligner (decode.times=ctc), not by the LLM.\n\n" + table + "\n" + took_md)
    files = [root / "results.csv", root / "results.md"]
    if rows and ab.metrics:
        fig = plot_ablation(rows, ab.metrics, list(ab.arms))
        fig.savefig(root / "results.png", dpi=120)
        files.append(root / "results.png")
    curves = {f"{arm} seed {seed}": run_dir(ab, runs_dir, arm, seed) for arm in ab.arms for seed in ab.seeds
              if (run_dir(ab, runs_dir, arm, seed) / "logs" / "metrics.csv").is_file()}
    if curves and ab.metrics:
        plot_learning_curves(curves, ab.metrics).savefig(root / "learning.png", dpi=120)
        files.append(root / "learning.png")
    print(table)
    if took:
        print("\nTreatment took?\n" + "\n".join(took))
    print(f"\n[qa-lab ablate] table and plots: " + ", ".join(map(str, files)))
    return root
