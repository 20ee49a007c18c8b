"""Feature encoding throughput: clips per second of the frozen audio tower over make demo's clips, and where the time goes.

A cached-features run (the CPU recipe) encodes every clip once before its first step (`qa_lab.core.features`); on a
CPU without bf16 matrix instructions this phase was 5x slower than on one with them (13 against 64 clips/s). This
encodes the first `--clips` clips of the run's training manifest or world (default make demo's srwt_on arm, parts and world built first or
reused from `data/`) exactly as a run does (`encode_clips`, under the run's precision: `QA_LAB_PRECISION=32-true`
for the fp32 path) and prints `clips_per_s: X` last. `--profile` prints the ops that took the most CPU time.

    python benchmarks/encoding.py [--experiment ablations/srwt_on] [--scale scale/tiny-cpu] [--clips 200]
                                  [--profile] [--set key=value ...] [--json out.json]

To see what another CPU's instruction set costs on this one, torch and oneDNN can be held to AVX2 (no AVX-512, no
bf16 matmuls): `ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.core.features import autocast_dtype, clips_of, encode_clips
from qa_lab.data.audio import duration
from qa_lab.data.manifest import read_manifest
from qa_lab.study import provenance
from qa_lab.train.trainer import resolve_precision
from qa_lab.train.run import with_parts
from qa_lab.world import builder as world_builder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", default="ablations/srwt_on")
    ap.add_argument("--scale", default="scale/tiny-cpu", help="a scale layered under the experiment ('' for none)")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    ap.add_argument("--profile", action="store_true", help="print the ops by CPU time (torch's profiler)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    a = ap.parse_args()
    cfg = load_config(a.experiment, a.set, layers=[a.scale] if a.scale else [])
    cfg, _ = with_parts(cfg)
    model = build_model(cfg)
    manifest = cfg.data.train_manifest or world_builder.build_for(cfg) / "train.jsonl"
    clips = clips_of(read_manifest(manifest))[:a.clips]
    precision = resolve_precision(cfg.trainer.precision)
    dtype = autocast_dtype(precision)
    encode_clips(model, clips[:8], cfg.data.batch_seconds, progress=False, dtype=dtype)  # warm-up: kernels, pages
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if a.profile else None
    if prof:
        prof.__enter__()
    start = time.perf_counter()
    encode_clips(model, clips, cfg.data.batch_seconds, progress=False, dtype=dtype)
    wall = time.perf_counter() - start
    if prof:
        prof.__exit__(None, None, None)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15), flush=True)
    audio_s = sum(ex.get("duration") or duration(ex["audio"]) for ex in clips)
    result = {"experiment": a.experiment, "scale": a.scale, "overrides": a.set, "precision": precision,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
              **provenance.machine(), "clips": len(clips), "audio_s": round(audio_s, 1), "wall_s": round(wall, 2),
              "clips_per_s": round(len(clips) / wall, 2)}
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")
    print(f"precision {precision}, torch CPU capability {result['cpu_capability']}, {result['threads']} threads: "
          f"{len(clips)} clips ({audio_s:.0f} s of audio) in {wall:.1f} s")
    print(f"clips_per_s: {result['clips_per_s']:.2f}")


if __name__ == "__main__":
    main()
