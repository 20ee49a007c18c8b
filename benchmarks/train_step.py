"""Training-step throughput: 30 s padding (the peers' paths) versus real-length, duration-bucketed encoding.

Times forward + backward + AdamW step of the tiny AudioLLM on the same synthetic clips for every path. The
default stage is `pretrain` (the paper's stage 1: the encoder and projector train on the whole multitask
corpus, so this is where 30 s padding costs most: forward AND backward through 1500 encoder frames);
`--stage finetune` measures the frozen-encoder LoRA stage, where the encoder runs forward only.

  pad30            mel padded to 3000 frames, transformers' stock WhisperEncoder over 30 s, encoder
                   output trimmed to each clip's real length before the LLM; random batches.
  pad_everything   SALMONN-style: 30 s windows through the encoder and all 750 pooled frames of every
                   clip into the LLM; random batches.
  real_bucketed    the kit's path: real-length mel, masked encoder at the batch's own length, fixed-size
                   batches cut from duration-sorted clips (batch order shuffled).
  real_unbucketed  real length, the same random batches as pad30 (reference).

Mel features and batches are made before timing: feature extraction and collation are not measured.
Every path starts from the same weights and a fresh AdamW. Paths are interleaved within each repeat;
a step's reported time is its fastest over the repeats (the compute of a batch is fixed, so other
processes on the host can only add time), and the load other processes put on the host is reported.

    python benchmarks/train_step.py [--clips 64] [--batch-size 8] [--repeats 2] [--device cpu]
                                    [--set lora.dropout=0.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import statistics
import time
import warnings

import numpy as np
import torch

from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.core.encoder import MEL_FRAMES_30S
from qa_lab.data.audio import log_mel, log_mel_pad30
from qa_lab.frames import HOP, SAMPLE_RATE
from qa_lab.data.dataset import Collator
from qa_lab.prompts import tasks
from qa_lab.world.speech import sentences

PATHS = ("pad30", "pad_everything", "real_bucketed", "real_unbucketed")
PHASES = ("encoder_fwd", "llm_fwd", "backward", "optimizer")
BUSY = 0.25  # cores used by other processes above which a timing is flagged as noisy


# --- the clips and the batches each path sees ---------------------------------------------------

def synth_clip(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A few sines plus noise at 16 kHz: (T,) float32. The compute does not depend on the content."""
    t = np.arange(int(round(seconds * SAMPLE_RATE))) / SAMPLE_RATE
    audio = sum(rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) for _ in range(3))
    return (audio + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def make_clips(n: int, min_s: float, max_s: float, seed: int, tokenizer) -> tuple[list[dict], float]:
    """n clips with real-length and 30 s mel precomputed, ASR prompt and a sentence as target."""
    rng = np.random.default_rng(seed)
    durations = rng.uniform(min_s, max_s, n)
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompt_ids = enc(tasks.prompt("asr"))
    clips, t0 = [], time.perf_counter()
    for i, (d, text) in enumerate(zip(durations, sentences(n, seed, "train"))):
        audio = synth_clip(float(d), rng)
        clips.append({"seconds": len(audio) / SAMPLE_RATE, "mel_real": torch.from_numpy(log_mel(audio)),
                      "mel_30s": torch.from_numpy(log_mel_pad30(audio)),
                      "mel_length": min(len(audio) // HOP, MEL_FRAMES_30S),
                      "prompt_ids": prompt_ids, "target_ids": enc(text), "index": i})
    return clips, time.perf_counter() - t0


def batch_orders(clips: list[dict], batch_size: int, seed: int) -> dict[str, list[list[int]]]:
    """Clip indices per batch for each path; the unbucketed paths share one random order."""
    rng = np.random.default_rng([seed, 1])
    n = len(clips)
    chunk = lambda order: [list(map(int, order[i:i + batch_size])) for i in range(0, n, batch_size)]  # noqa: E731
    random_batches = chunk(rng.permutation(n))
    by_duration = chunk(np.argsort([c["seconds"] for c in clips], kind="stable"))
    bucketed = [by_duration[j] for j in rng.permutation(len(by_duration))]
    return {"pad30": random_batches, "pad_everything": random_batches,
            "real_bucketed": bucketed, "real_unbucketed": random_batches}


def item_for(clip: dict, path: str) -> dict:
    """The dataset item (as AudioTextDataset makes it) that `path` feeds to the collator."""
    item = {"prompt_ids": clip["prompt_ids"], "target_ids": clip["target_ids"], "task": "asr", "index": clip["index"]}
    if path == "pad30":
        item.update(mel=clip["mel_30s"], mel_length=clip["mel_length"])
    elif path == "pad_everything":
        item.update(mel=clip["mel_30s"], mel_length=MEL_FRAMES_30S)  # 750 audio slots per clip
    else:
        item.update(mel=clip["mel_real"], mel_length=clip["mel_length"])
    return item


# --- timing --------------------------------------------------------------------------------------

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _busy_cpu_seconds() -> float | None:
    """CPU seconds used by everything on the host since boot (Linux /proc/stat), or None elsewhere."""
    try:
        with open("/proc/stat") as f:
            user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class ForeignLoad:
    """Cores used by other processes during a block: (host CPU time - this process's) / wall time."""

    cores = float("nan")

    def __enter__(self):
        self.host, self.own, self.wall = _busy_cpu_seconds(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        host, wall = _busy_cpu_seconds(), time.perf_counter() - self.wall
        if host is not None and self.host is not None and wall > 0:
            self.cores = max(0.0, (host - self.host) - (time.process_time() - self.own)) / wall


def wait_quiet(max_seconds: float) -> float:
    """Wait up to max_seconds for a second in which other processes use under BUSY cores; returns the wait."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_seconds:
        with ForeignLoad() as load:
            time.sleep(1.0)
        if not load.cores >= BUSY:  # nan (no /proc/stat) counts as quiet
            break
    return time.perf_counter() - start


def run_steps(model, opt, params, batches: list[dict], clip: float, device: torch.device) -> list[dict]:
    """One training step per batch (already on device); per step: wall seconds of each phase and in all.

    The encoder's share of the forward is split out by wrapping model.encode_audio (AudioLLM.embed calls it).
    """
    enc_seconds = [0.0]
    inner = model.encode_audio

    def timed_encode(mel, mel_lengths):
        sync(device)
        t = time.perf_counter()
        out = inner(mel, mel_lengths)
        sync(device)
        enc_seconds[0] += time.perf_counter() - t
        return out

    model.encode_audio = timed_encode
    steps = []
    try:
        for batch in batches:
            enc_seconds[0] = 0.0
            with ForeignLoad() as load:
                sync(device)
                t0 = time.perf_counter()
                loss = model(batch)["loss"]
                sync(device)
                t1 = time.perf_counter()
                loss.backward()
                sync(device)
                t2 = time.perf_counter()
                if clip:
                    torch.nn.utils.clip_grad_norm_(params, clip)  # as Lightning does with gradient_clip_val
                opt.step()
                opt.zero_grad(set_to_none=True)
                sync(device)
                t3 = time.perf_counter()
            steps.append({"total": t3 - t0, "encoder_fwd": enc_seconds[0], "llm_fwd": t1 - t0 - enc_seconds[0],
                          "backward": t2 - t1, "optimizer": t3 - t2, "foreign_cores": load.cores})
    finally:
        del model.encode_audio  # back to the class method
    return steps


def summarise(passes: list[list[dict]], stats: dict) -> dict:
    """Per batch the fastest of the repeats; sums and per-step means of those, plus per-pass totals."""
    n = stats["steps"]
    best = [min((p[k] for p in passes), key=lambda s: s["total"]) for k in range(n)]
    seconds = sum(s["total"] for s in best)
    foreign = [s["foreign_cores"] for s in best if s["foreign_cores"] == s["foreign_cores"]]
    return dict(
        stats, seconds=seconds, seconds_per_step=seconds / n,
        audio_seconds_per_second=stats["audio_seconds"] / seconds,
        phases_seconds_per_step={ph: sum(s[ph] for s in best) / n for ph in PHASES},
        foreign_cores_max=max(foreign, default=float("nan")),
        foreign_cores_mean=statistics.mean(foreign) if foreign else float("nan"),
        pass_seconds=[sum(s["total"] for s in p) for p in passes],
        pass_foreign_cores=[statistics.mean(s["foreign_cores"] for s in p) for p in passes],
        steps_seconds=[[s["total"] for s in p] for p in passes],
    )


# --- main ----------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=64, help="number of clips (default 64)")
    ap.add_argument("--min-seconds", type=float, default=1.0, help="shortest clip duration (default 1)")
    ap.add_argument("--max-seconds", type=float, default=10.0, help="longest clip duration (default 10)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="timed passes per path; per batch the fastest counts")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before each timed pass")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: cpu count)")
    ap.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {','.join(PATHS)}")
    ap.add_argument("--stage", default="pretrain", choices=("pretrain", "sft", "finetune", "full"),
                    help="training stage (default pretrain: the encoder trains)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override on top of experiments/base.yaml, e.g. lora.dropout=0.0 (repeatable)")
    ap.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate (does not change the compute)")
    ap.add_argument("--wait-quiet", type=float, default=15.0,
                    help="before each timed pass wait up to this many seconds for other processes to go idle")
    ap.add_argument("--json", default=None, metavar="OUT", help="write all figures to this json file")
    args = ap.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not set(paths) <= set(PATHS):
        ap.error(f"--paths: expected names from {', '.join(PATHS)}, got {args.paths!r}")
    if "pad30" not in paths or "real_bucketed" not in paths:
        ap.error("--paths must include pad30 and real_bucketed (the speedup compares them)")

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' deprecation chatter
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    cfg = load_config("base", [f"seed={args.seed}", f"stage={args.stage}", *args.set])  # tiny preset
    model = build_model(cfg).to(device).train()
    weights = copy.deepcopy(model.state_dict())
    params = [p for p in model.parameters() if p.requires_grad]
    clip_norm = float(cfg.trainer.gradient_clip_val or 0.0)

    clips, fe_seconds = make_clips(args.clips, args.min_seconds, args.max_seconds, args.seed, model.tokenizer)
    orders = batch_orders(clips, args.batch_size, args.seed)
    collate = Collator(model.tokenizer, cfg.model.pool_stride, train=True)
    prepared, stats = {}, {}
    for path in paths:
        t0 = time.perf_counter()
        batches = [collate([item_for(clips[i], path) for i in idx]) for idx in orders[path]]
        collate_s = time.perf_counter() - t0
        real_mel = sum(clips[i]["mel_length"] for idx in orders[path] for i in idx)
        computed_mel = sum(b["mel"].shape[0] * b["mel"].shape[2] for b in batches)  # B x T per batch
        stats[path] = {
            "steps": len(batches),
            "audio_seconds": sum(clips[i]["seconds"] for idx in orders[path] for i in idx),
            "encoder_real_share": real_mel / computed_mel,
            "encoder_mel_frames_per_step": computed_mel / len(batches),
            "llm_tokens_per_step": statistics.mean(b["input_ids"].numel() for b in batches),
            "llm_real_tokens_per_step": statistics.mean(int(b["attention_mask"].sum()) for b in batches),
            "collate_seconds": collate_s,
        }
        prepared[path] = [{k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()} for b in batches]

    passes: dict[str, list[list[dict]]] = {p: [] for p in paths}
    for rep in range(args.repeats):
        for path in paths:  # interleaved, so a burst of background load does not hit one path only
            model.load_state_dict(weights)
            model.audio_padding = "pad30" if path.startswith("pad") else "real"
            opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=cfg.trainer.weight_decay)
            batches = prepared[path]
            run_steps(model, opt, params, [batches[k % len(batches)] for k in range(args.warmup)], clip_norm, device)
            gc.collect()
            waited = wait_quiet(args.wait_quiet)
            steps = run_steps(model, opt, params, batches, clip_norm, device)
            passes[path].append(steps)
            load = statistics.mean(s["foreign_cores"] for s in steps)
            print(f"  pass {rep + 1}/{args.repeats} {path:<16} {sum(s['total'] for s in steps):7.2f} s for "
                  f"{len(steps)} steps   other processes: {load:.2f} cores (waited {waited:.0f} s for quiet)",
                  flush=True)
            del opt

    results = {p: summarise(passes[p], stats[p]) for p in paths}
    base = results["pad30"]["audio_seconds_per_second"]
    for r in results.values():
        r["speedup_vs_pad30"] = r["audio_seconds_per_second"] / base

    overrides = f", overrides {' '.join(args.set)}" if args.set else ""
    print()
    print(f"Training step = forward + backward + AdamW (grad clip {clip_norm:g}); stage {cfg.stage}, preset "
          f"{cfg.model.preset}, LoRA r{cfg.lora.r} dropout {cfg.lora.dropout:g}{overrides}; fp32; batch "
          f"{args.batch_size}; {args.clips} clips of {args.min_seconds:g}-{args.max_seconds:g} s "
          f"({sum(c['seconds'] for c in clips):.1f} s of audio); {args.warmup} warm-up steps, then each step's "
          f"fastest of {args.repeats} passes.")
    print(f"Mel features ({fe_seconds:.1f} s) and collation were done before timing and are not measured.")
    print()
    head = (f"{'path':<16} {'steps':>5} {'s/step':>7} {'audio-s/s':>9} {'vs pad30':>8} {'enc real':>8} "
            f"{'LLM tok/step':>12} {'(real)':>6}")
    print(head)
    print("-" * len(head))
    for path, r in results.items():
        print(f"{path:<16} {r['steps']:>5} {r['seconds_per_step']:>7.3f} {r['audio_seconds_per_second']:>9.1f} "
              f"{r['speedup_vs_pad30']:>7.2f}x {100 * r['encoder_real_share']:>7.1f}% "
              f"{r['llm_tokens_per_step']:>12.0f} {r['llm_real_tokens_per_step']:>6.0f}")
    print("enc real: real mel frames / mel frames the encoder computed over (padding included). "
          "LLM tok/step: B x padded length (real: unpadded).")
    print()
    head = f"{'ms per step':<16} " + " ".join(f"{p:>12}" for p in PHASES) + f" {'others used':>12}"
    print(head)
    print("-" * len(head))
    for path, r in results.items():
        ph, tot = r["phases_seconds_per_step"], r["seconds_per_step"]
        print(f"{path:<16} " + " ".join(f"{1000 * ph[k]:>6.0f} ({100 * ph[k] / tot:>2.0f}%)" for k in PHASES)
              + f" {r['foreign_cores_mean']:>6.2f} cores")
    print("encoder_fwd: model.encode_audio (encoder, pooling, projector); llm_fwd: the rest of the forward "
          "(splice, LLM, loss); optimizer: grad clipping + AdamW.")
    print()
    host = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()}",
            "torch": torch.__version__}
    if hasattr(os, "getloadavg"):
        host["load_average_1m"] = round(os.getloadavg()[0], 2)
    print("host: " + ", ".join(f"{k}={v}" for k, v in host.items()))
    noisy = {p: r["foreign_cores_max"] for p, r in results.items() if r["foreign_cores_max"] >= BUSY}
    if noisy:
        print("NOISY: other processes used CPU during the reported steps (max " + ", ".join(
            f"{p} {c:.2f}" for p, c in noisy.items()) + " cores); with torch threads = cores each op then waits "
            "for the scheduler, so these figures are inflated and the ratios unreliable. Rerun on an idle host.")
    else:
        print(f"quiet: other processes used under {BUSY} cores during every reported step")
    if "pad_everything" in results:
        rate = {p: r["audio_seconds_per_second"] for p, r in results.items()}
        lag = rate["real_bucketed"] / rate["pad_everything"]
        print(f"pad_everything is {lag:.2f}x behind real_bucketed")
    speedup = results["real_bucketed"]["speedup_vs_pad30"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "host": host, "feature_extraction_seconds": fe_seconds,
                       "results": results, "speedup_vs_30s_padding": speedup}, f, indent=2)
    print(f"speedup_vs_30s_padding: {speedup:.2f}")


if __name__ == "__main__":
    main()
