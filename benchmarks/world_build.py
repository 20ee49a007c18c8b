"""World build throughput: clips per second, one process versus a worker pool, on the same config.

Builds the world twice into fresh temporary folders (no cache), once with `world.workers=1` and once with
`--workers` processes, and checks that both builds are byte-identical. A clip is one rendered wav (it
serves one or more tasks); the figure includes synthesis, mixing and writing the wav and manifests.

    python benchmarks/world_build.py [--size tiny] [--workers 0] [--set world.n_train=40 ...] [--json out.json]

Last line: `clips_per_second: X` (the pool's rate).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from qa_lab.config import load_config
from qa_lab.world import builder as world


def _digest(root: Path) -> str:
    h = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def _time(cfg, seed: int) -> tuple[float, int, str]:
    with tempfile.TemporaryDirectory() as out:
        cfg.out = out
        t0 = time.perf_counter()
        root = world.build_world(cfg, seed, progress=False)
        seconds = time.perf_counter() - t0
        clips = sum(1 for _ in (root / "wav").rglob("*.wav"))
        return seconds, clips, _digest(root)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="tiny", choices=("tiny", "small", "full"))
    p.add_argument("--workers", type=int, default=0, help="pool size (0 = one per core, up to 8)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument("--json", default=None, help="also write the figures here")
    a = p.parse_args()
    cfg = load_config("base", [f"world.size={a.size}", *a.set]).world

    cfg.workers = 1
    t1, clips, d1 = _time(cfg, 0)
    cfg.workers = a.workers or min(os.cpu_count() or 1, 8)
    tn, clips_n, dn = _time(cfg, 0)
    assert clips == clips_n and d1 == dn, "pool build differs from the one-process build"
    res = {"size": a.size, "overrides": a.set, "clips": clips, "cpus": os.cpu_count(), "workers": cfg.workers,
           "machine": platform.processor() or platform.machine(),
           "one_process_s": round(t1, 2), "pool_s": round(tn, 2),
           "one_process_clips_per_s": round(clips / t1, 1), "pool_clips_per_s": round(clips / tn, 1),
           "pool_speedup": round(t1 / tn, 2), "identical": True}
    for k, v in res.items():
        print(f"{k}: {v}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    print(f"clips_per_second: {clips / tn:.1f}")


if __name__ == "__main__":
    main()
