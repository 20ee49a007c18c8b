"""Where a result came from: the code's commit, the command, the configs, the machine and the time it took, written
beside every results table so a figure can be traced and compared only with figures from the same kind of machine."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("qa_lab", "torch", "transformers", "lightning", "peft", "numpy")


def cpu_model() -> str:
    """The CPU's model name as the OS reports it (e.g. "AMD EPYC 9B14", "Intel(R) Xeon(R) Platinum 8481C")."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def git_state(where: Path | None = None) -> dict:
    """{"commit", "dirty"} of the checkout holding the package (None each outside a git checkout)."""
    where = where or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def machine() -> dict:
    import torch  # imported here: torch loads slowly and the rest of provenance is stdlib only
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "python": platform.python_version(), "versions": versions}


def config_hash(yaml_texts: list[str]) -> str:
    """sha256 (first 16 hex) over resolved config texts: equal hashes, equal recipes."""
    return hashlib.sha256("\n---\n".join(yaml_texts).encode()).hexdigest()[:16]


def write(path: Path, start: float, end: float, configs: list[str], runs: dict | None = None,
          peak_memory_bytes: int | None = None, argv: list[str] | None = None, code: dict | None = None) -> dict:
    """provenance.json at `path`: commit and dirty flag, command line, config hash, machine, start / end / wall time,
    the peak resident memory over the job's processes, and per-run figures (`runs`: name -> dict). The records of
    earlier commands that wrote this file are kept under "earlier" (oldest first): rerunning a finished ablation for
    its table or probes takes seconds and must not hide the wall time of the command that trained it. `code`: the
    `git_state()` read when the job started (a commit made while it ran is not the code it ran); read now if None."""
    record = {**(code if code is not None else git_state()), "command": " ".join(argv if argv is not None else sys.argv),
              "config_hash": config_hash(configs), **machine(),
              "start": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(start)),
              "end": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(end)), "wall_s": round(end - start, 1),
              "peak_memory_gb": None if peak_memory_bytes is None else round(peak_memory_bytes / 2 ** 30, 2),
              "runs": runs or {}}
    try:  # an earlier command on the same table (the one that trained it, most often) stays on record
        before = json.loads(path.read_text())
        record["earlier"] = [*before.pop("earlier", []), before]
    except (OSError, ValueError, AttributeError):
        pass
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record
