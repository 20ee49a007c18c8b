"""Memory of a training run, step over step: does a run hold more every 100 steps (target: flat)?

Trains an experiment at a scale (default: make demo's srwt_on arm, `ablations/srwt_on` at `scale/tiny-cpu`, its
parts, world and cached features built first or reused from make demo's `data/`) and reads the process's resident size every `--every` steps, with the count of distinct batch shapes
seen so far (each new shape can leave allocator blocks and oneDNN kernels behind). The last line is
`growth_mb_per_100_steps: X.X`, the least-squares slope of the peak resident size between marks over the second half
of the readings (after the first validation and the caches have filled), against `rss_gb_first`, the first mark's. It also prints the run's
`steps_per_s`; `--profile N` prints the ops that took the most CPU time over N steps from step 50 (torch's profiler):
what to look at when the same recipe runs slower on another CPU (e.g. `--set trainer.precision=32-true` against the
default bf16-mixed).

    python benchmarks/memory_growth.py [--experiment ablations/srwt_on] [--scale scale/tiny-cpu] [--steps 600]
                                       [--every 100] [--set key=value ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lightning as L
import numpy as np
import psutil
import torch

from qa_lab.config import load_config
from qa_lab.study import provenance
from qa_lab.train.memory import GB
from qa_lab.train.run import train


class MemoryTrace(L.Callback):
    """Resident size of this process every `every` steps, the largest seen at any step since the last mark, and how
    many batch shapes the run has met."""

    def __init__(self, every: int):
        self.every, self.rows, self.shapes, self.peak = every, [], set(), 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.shapes.add(tuple(batch["input_ids"].shape))
        rss = psutil.Process().memory_info().rss / GB
        self.peak = max(self.peak, rss)
        if trainer.global_step % self.every == 0:
            self.rows.append({"step": trainer.global_step, "rss_gb": rss, "peak_rss_gb": self.peak,
                              "batch_shapes": len(self.shapes)})
            print(f"step {trainer.global_step:5d}  rss {rss:.3f} GB  peak since the last mark {self.peak:.3f} GB  "
                  f"batch shapes so far {len(self.shapes)}", flush=True)
            self.peak = 0.0


class OpProfile(L.Callback):
    """torch's profiler over `steps` training steps from `start`; prints the ops by self CPU time at the end."""

    def __init__(self, steps: int, start: int = 50):
        self.steps, self.start, self.prof = steps, start, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.start and self.prof is None:
            self.prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self.prof.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.prof is not None and trainer.global_step == self.start + self.steps:
            self.prof.__exit__(None, None, None)
            print(self.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="ablations/srwt_on")
    ap.add_argument("--scale", default="scale/tiny-cpu", help="a scale layered under the experiment ('' for none)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    ap.add_argument("--json", default=None, help="also write the readings here")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="profile N steps from step 50 (0: off)")
    ap.add_argument("--glibc-default", action="store_true",
                    help="keep freed heap pages as glibc does (the kit hands them back: HandBackFreedMemory)")
    a = ap.parse_args()
    if a.glibc_default:
        import qa_lab.heap
        qa_lab.heap.hand_back_freed_memory = lambda: None
    with tempfile.TemporaryDirectory() as runs:
        cfg = load_config(a.experiment, [f"trainer.max_steps={a.steps}", f"runs_dir={runs}",
                                         f"trainer.checkpoint_every_n_steps={a.steps}", *a.set],
                          layers=[a.scale] if a.scale else [])
        trace = MemoryTrace(a.every)
        start = time.time()
        train(cfg, report_examples=0, verbose=False,
              callbacks=[trace] + ([OpProfile(a.profile)] if a.profile else []))
        wall = time.time() - start
    rows = trace.rows
    half = rows[len(rows) // 2:] if len(rows) >= 4 else rows
    slope = (np.polyfit([r["step"] for r in half], [r["peak_rss_gb"] for r in half], 1)[0] * 100 * 1024
             if len(half) >= 2 else float("nan"))
    result = {"experiment": a.experiment, "scale": a.scale, "overrides": a.set, "steps": a.steps,
              "glibc_default": a.glibc_default,
              "wall_s": round(wall), **provenance.machine(), "readings": rows,
              "growth_mb_per_100_steps": slope, "rss_gb_first": rows[0]["rss_gb"] if rows else float("nan"),
              "steps_per_s": round(a.steps / wall, 3)}
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"steps_per_s: {result['steps_per_s']:.3f} (with start-up and validation)")
    print(f"rss_gb_first: {result['rss_gb_first']:.3f}")
    print(f"growth_mb_per_100_steps: {slope:.1f}")


if __name__ == "__main__":
    main()
