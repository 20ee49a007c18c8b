"""Frozen-encoder training step: running the encoder every step versus reading its cached features.

With the audio tower frozen (model.freeze=[audio_tower], the CPU recipe), qa_lab encodes each clip once and trains
on cached pooled features (qa_lab.core.features). This times forward + backward + AdamW of the recipe's model on the
same batches both ways and prints `speedup_cached_features: X.XX` (live seconds per step / cached) last.

    python benchmarks/cached_features.py [--encoder packaged:tiny.en] [--clips 48] [--batch-size 12] [--repeats 2]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.data.audio import log_mel
from qa_lab.data.dataset import Collator
from qa_lab.world.speech import sentences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="packaged:tiny.en", help="model.audio_encoder ('' = the tiny random one)")
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    over = ["stage=full", "model.freeze=[audio_tower]", "model.pool_stride=4", "model.ctc_weight=1.0"]
    if a.encoder:
        over.append(f"model.audio_encoder={a.encoder}")
    cfg = load_config("base", over)
    torch.manual_seed(0)
    model = build_model(cfg).train()
    tok = model.tokenizer
    rng = np.random.default_rng(0)
    texts = sentences(a.clips, 0, "train", lang="en")
    items = []
    for i in range(a.clips):
        seconds = rng.uniform(1.0, 8.0)
        t = np.arange(int(seconds * 16000)) / 16000
        audio = (0.1 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) + 0.01 * rng.standard_normal(len(t)))
        mel = torch.from_numpy(log_mel(audio.astype(np.float32)))
        ids = tok(texts[i], add_special_tokens=False)["input_ids"]
        items.append({"mel": mel, "mel_length": mel.shape[1], "prompt_ids": ids[:4], "target_ids": ids,
                      "ctc_ids": ids, "task": "asr", "index": i})
    with torch.no_grad():  # what qa_lab.core.features stores: pooled pre-projector features per clip
        for it in items:
            h, n = model.audio_features(it["mel"][None], torch.tensor([it["mel_length"]]))
            it["feats"] = h[0, :int(n[0])]
    collate = Collator(tok, model.pool_stride, train=True)
    order = sorted(range(a.clips), key=lambda i: items[i]["mel_length"])
    groups = [order[k:k + a.batch_size] for k in range(0, a.clips, a.batch_size)]
    live = [collate([{k: v for k, v in items[i].items() if k != "feats"} for i in g]) for g in groups]
    cached = [collate([{k: v for k, v in items[i].items() if k != "mel"} for i in g]) for g in groups]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step(batch) -> float:
        t0 = time.perf_counter()
        out = model(batch)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        return time.perf_counter() - t0

    best = {"live": [float("inf")] * len(groups), "cached": [float("inf")] * len(groups)}
    for _ in range(a.repeats):  # interleaved; each batch's fastest time (other processes only add time)
        for k in range(len(groups)):
            best["live"][k] = min(best["live"][k], step(live[k]))
            best["cached"][k] = min(best["cached"][k], step(cached[k]))
    live_s, cached_s = sum(best["live"]) / len(groups), sum(best["cached"]) / len(groups)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; encoder {a.encoder or 'tiny random'}; {a.clips} clips of 1-8 s, "
          f"batches of {a.batch_size}")
    print(f"live encoder:    {live_s:.3f} s/step")
    print(f"cached features: {cached_s:.3f} s/step")
    print(f"speedup_cached_features: {live_s / cached_s:.2f}")


if __name__ == "__main__":
    main()
