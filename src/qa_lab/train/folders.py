"""Run folders: where a run writes (runs/<name>/<time>/, or the one folder every rank of a launched run shares), the
experiment yaml it came from, and metrics.csv kept whole across a resume."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qa_lab.config import EXPERIMENTS_DIR, Config, experiment_path, to_yaml
from qa_lab.errors import CannotWrite


RUN_DIR_ENV = "QA_LAB_RUN_DIR"  # the run folder rank 0 made, for the ranks Lightning's DDP launcher starts after it

log = logging.getLogger(__name__)


def first_process() -> bool:
    """Whether this process is global rank 0 (or alone), before a Trainer exists: from the variables a launcher sets
    (torchrun's RANK, SLURM's SLURM_PROCID, Lightning's NODE_RANK and LOCAL_RANK for the ranks it starts)."""
    for key in ("RANK", "SLURM_PROCID"):
        if key in os.environ:
            return os.environ[key] == "0"
    return os.environ.get("NODE_RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def launched_run_dir(cfg: Config) -> Path | None:
    """The one run folder of ranks that a launcher started itself (torchrun sets WORLD_SIZE; SLURM's srun sets
    SLURM_NTASKS): QA_LAB_RUN_DIR when set, else runs/<name>/<the launch's id>, which every rank names alike
    (torchrun-<rendezvous id>, slurm-<job id>.<step id>). None outside such a launch, or when it has no shared id
    (torchrun without --standalone or --rdzv-id)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return None
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    rdzv = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    if rdzv != "none":
        return Path(cfg.runs_dir) / cfg.name / f"torchrun-{rdzv}"
    if os.environ.get("SLURM_JOB_ID"):
        step = os.environ.get("SLURM_STEP_ID")
        return Path(cfg.runs_dir) / cfg.name / (f"slurm-{os.environ['SLURM_JOB_ID']}" + (f".{step}" if step else ""))
    return None


def make_run_dir(cfg: Config, source_yaml: Path | None, run_dir: Path | None = None) -> Path:
    """runs/<name>/<timestamp>/ (or `run_dir`) holding the resolved config and the original experiment yaml.

    In a multi-process run only rank 0 makes and writes it, and every rank logs and checkpoints into that one folder:
    the ranks Lightning's launcher starts later (trainer.devices > 1) find it in QA_LAB_RUN_DIR, which rank 0 sets;
    ranks that torchrun or SLURM started name it alike (launched_run_dir)."""
    run_dir = run_dir or launched_run_dir(cfg)
    if not first_process():
        if run_dir is None and not os.environ.get(RUN_DIR_ENV):
            raise RuntimeError(f"{RUN_DIR_ENV} is not set in this rank, so it cannot find the run folder rank 0 "
                               "made: start multi-process runs with Lightning's own launcher (trainer.devices=N on "
                               "one machine), torchrun --standalone (or --rdzv-id) or SLURM's srun, or set it to one "
                               "folder for every rank yourself")
        return Path(run_dir or os.environ[RUN_DIR_ENV])
    if run_dir is not None:
        run = Path(run_dir)
        run.mkdir(parents=True, exist_ok=True)
    else:
        stamp = Path(cfg.runs_dir) / cfg.name / time.strftime("%Y%m%d-%H%M%S")
        stamp.parent.mkdir(parents=True, exist_ok=True)
        run, k = stamp, 1
        while True:  # runs started in the same second take -1, -2 ...: mkdir claims a name atomically
            try:
                run.mkdir()
                break
            except FileExistsError:
                run, k = stamp.with_name(f"{stamp.name}-{k}"), k + 1
    (run / "config.yaml").write_text(to_yaml(cfg))
    if source_yaml is not None and source_yaml.is_file():
        shutil.copy(source_yaml, run / "experiment.yaml")
    os.environ[RUN_DIR_ENV] = str(run.resolve())
    return run


def experiment_source(name: str) -> Path | None:
    """The experiment yaml a config named `name` was loaded from, for a run started from the Python API (the CLI
    passes its path): 'demo' -> experiments/demo.yaml, 'chat' -> experiments/chat/chat.yaml (a name that is one
    nested file's stem); None when no single yaml has that name."""
    try:
        return experiment_path(name)
    except ValueError:
        nested = sorted(EXPERIMENTS_DIR.rglob(f"{name}.yaml"))
        return nested[0] if len(nested) == 1 else None


def merge_logs(earlier: Path, metrics: Path) -> None:
    """metrics.csv after a resume = the earlier attempt's rows before the first step the resumed attempt logged, then
    the resumed attempt's rows (columns united); written atomically. `earlier` stays as the first attempt's record."""
    read = lambda p: list(csv.DictReader(p.open(newline=""))) if p.is_file() else []  # noqa: E731
    new = read(metrics)
    first = min((int(r["step"]) for r in new), default=None)
    rows = [r for r in read(earlier) if first is None or int(r["step"]) < first] + new
    columns = list(dict.fromkeys(k for r in rows for k in r))
    tmp = metrics.with_name(f".{metrics.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, metrics)


def resume_home(resume: Path, run_dir: str | Path | None) -> str | Path | None:
    """Where a resumed run writes: `run_dir` when given, else the resumed checkpoint's own run folder (both
    attempts' logs are kept there), else None (a new folder)."""
    home = resume.parent.parent
    if run_dir is None and resume.parent.name == "checkpoints" and (home / "config.yaml").is_file():
        return home
    return run_dir


@contextmanager
def kept_logs(run_dir: Path, resuming: bool, writes: bool = True) -> Iterator[None]:
    """Around a resumed fit: Lightning's CSV logger would rewrite logs/metrics.csv, so the earlier attempt's file is
    set aside (metrics.before-resume-<time>.csv) and merged back after the fit (`merge_logs`), whether it ended well
    or not. A merge that fails after a good fit raises CannotWrite; after a failed one it only warns, as the error
    that stopped training is the one to see (a folder turned read-only fails both)."""
    metrics = run_dir / "logs" / "metrics.csv"
    if not (writes and resuming and metrics.is_file()):
        yield
        return
    earlier = metrics.with_name(f"metrics.before-resume-{time.strftime('%Y%m%d-%H%M%S')}.csv")
    metrics.rename(earlier)
    failed = True
    try:
        yield
        failed = False
    finally:
        try:
            merge_logs(earlier, metrics)
        except OSError as e:
            if not failed:
                raise CannotWrite(metrics, e, f"the first attempt's rows are kept in {earlier}") from e
            log.warning("could not merge %s into %s (%s); the first attempt's rows are kept there", earlier,
                        metrics.name, e.strerror)
