"""Decoding throughput: batched greedy decoding with the KV cache versus one clip at a time, same clips, same run.

The tiny preset (random weights) decodes ASR prompts for English world clips (1.5-6 s). A random model
does not know when to stop, so every clip generates exactly `--new-tokens` tokens (min = max; 24 is about
a trained model's transcript of a 10-word sentence). Mel features are computed inside the timing (as in
`qa-lab eval`); model build and the world build are not. Each path runs `--repeats` times; the fastest
counts (other processes can only add time).

    python benchmarks/decode.py [--clips 64] [--batch-size 16] [--new-tokens 24] [--device cpu] [--json out.json]

Last line: `realtime_factor: X.XX` (audio seconds decoded per wall-clock second, batched).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import torch

from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.data.dataset import AudioTextDataset, Collator, eval_batches
from qa_lab.data.manifest import read_manifest
from qa_lab.world import builder as world


def _decode_all(model, ds, collate, batches, new_tokens: int, device) -> float:
    t0 = time.perf_counter()
    for idx in batches:
        batch = collate([ds[i] for i in idx])
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        model.generate(batch, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=24)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--json", default=None)
    a = p.parse_args()
    warnings.filterwarnings("ignore")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = load_config("base", ["stage=full"])
    with tempfile.TemporaryDirectory() as tmp:
        cfg.world.out, cfg.world.languages, cfg.world.n_train = tmp, ["en"], a.clips
        root = world.build_world(cfg.world, 0, tasks=["asr"], progress=False)
        examples = read_manifest(root / "train.jsonl", ["asr"])[: a.clips]
        device = torch.device(a.device)
        model = build_model(cfg).eval().to(device)
        ds = AudioTextDataset(examples, model.tokenizer, with_target=False)
        collate = Collator(model.tokenizer, train=False)
        durations = ds.durations()
        audio_s = float(durations.sum())
        batched = eval_batches(durations, 1e9, a.batch_size)  # duration-sorted batches of batch_size clips
        single = [[i] for i in range(len(ds))]
        _decode_all(model, ds, collate, batched[:1], 2, device)  # warm-up
        t_batched = min(_decode_all(model, ds, collate, batched, a.new_tokens, device) for _ in range(a.repeats))
        t_single = min(_decode_all(model, ds, collate, single, a.new_tokens, device) for _ in range(a.repeats))
    res = {"device": a.device, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "clips": len(ds), "audio_seconds": round(audio_s, 1),
           "batch_size": a.batch_size, "new_tokens": a.new_tokens,
           "batched_s": round(t_batched, 2), "one_at_a_time_s": round(t_single, 2),
           "batched_utterances_per_s": round(len(ds) / t_batched, 1),
           "one_at_a_time_utterances_per_s": round(len(ds) / t_single, 1),
           "batched_speedup": round(t_single / t_batched, 2),
           "one_at_a_time_realtime_factor": round(audio_s / t_single, 2)}
    for k, v in res.items():
        print(f"{k}: {v}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    print(f"realtime_factor: {audio_s / t_batched:.2f}")


if __name__ == "__main__":
    main()
