"""Training-step throughput: 30 s padding (the peers' paths) versus real-length, duration-bucketed encoding.

Times forward + backward + AdamW step of the tiny AudioLLM (stage `finetune`: LoRA r8 on the LLM,
projector trains, encoder frozen) on the same synthetic clips for every path:

  pad30            mel padded to 3000 frames, transformers' stock WhisperEncoder over 30 s, encoder
                   output trimmed to each clip's real length before the LLM; random batches.
  pad_everything   SALMONN-style: 30 s windows through the encoder and all 750 pooled frames of every
                   clip into the LLM; random batches.
  real_bucketed    the kit's path: real-length mel, masked encoder at the batch's own length, batches
                   of fixed size cut from duration-sorted clips (batch order shuffled).
  real_unbucketed  real length, the same random batches as pad30 (reference).

Mel features and batches are computed before timing; feature extraction and collation are not measured.

    python benchmarks/train_step.py [--clips 64] [--batch-size 8] [--repeats 2] [--device cpu] [--json out.json]
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

from qa_lab import tags
from qa_lab.audio import HOP, SAMPLE_RATE, log_mel, log_mel_pad30
from qa_lab.config import load_config
from qa_lab.data import Collator
from qa_lab.encoder import MEL_FRAMES_30S
from qa_lab.speech import sentences
from qa_lab.train import build

PATHS = ("pad30", "pad_everything", "real_bucketed", "real_unbucketed")
PHASES = ("encoder_fwd", "rest_fwd", "backward", "optimizer")


def synth_clip(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A few sines plus noise at 16 kHz: (T,) float32. Compute does not depend on the content."""
    t = np.arange(int(round(seconds * SAMPLE_RATE))) / SAMPLE_RATE
    audio = sum(rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) for _ in range(3))
    return (audio + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def make_clips(n: int, min_s: float, max_s: float, seed: int, tokenizer) -> tuple[list[dict], float]:
    """n items with both real-length and 30 s mel precomputed; returns them and the extraction time."""
    rng = np.random.default_rng(seed)
    durations = rng.uniform(min_s, max_s, n)
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompt_ids = enc(tags.prompt("asr"))
    texts = sentences(n, seed, "train")
    clips, t0 = [], time.perf_counter()
    for i, (d, text) in enumerate(zip(durations, texts)):
        audio = synth_clip(float(d), rng)
        clips.append({"seconds": len(audio) / SAMPLE_RATE, "mel_real": torch.from_numpy(log_mel(audio)),
                      "mel_30s": torch.from_numpy(log_mel_pad30(audio)),
                      "mel_length": min(len(audio) // HOP, MEL_FRAMES_30S),
                      "prompt_ids": prompt_ids, "target_ids": enc(text), "index": i})
    return clips, time.perf_counter() - t0


def batch_orders(clips: list[dict], batch_size: int, seed: int) -> dict[str, list[list[int]]]:
    """Clip indices per batch for each path: one random order shared by the unbucketed paths."""
    rng = np.random.default_rng([seed, 1])
    n = len(clips)
    chunk = lambda order: [list(map(int, order[i:i + batch_size])) for i in range(0, n, batch_size)]  # noqa: E731
    random_batches = chunk(rng.permutation(n))
    sorted_batches = chunk(np.argsort([c["seconds"] for c in clips], kind="stable"))
    bucketed = [sorted_batches[j] for j in rng.permutation(len(sorted_batches))]
    return {"pad30": random_batches, "pad_everything": random_batches,
            "real_bucketed": bucketed, "real_unbucketed": random_batches}


def item_for(clip: dict, path: str) -> dict:
    """The dataset item a path feeds to the collator."""
    item = {"prompt_ids": clip["prompt_ids"], "target_ids": clip["target_ids"], "task": "asr",
            "index": clip["index"]}
    if path == "pad30":
        item.update(mel=clip["mel_30s"], mel_length=clip["mel_length"])
    elif path == "pad_everything":
        item.update(mel=clip["mel_30s"], mel_length=MEL_FRAMES_30S)  # 750 audio slots per clip
    else:
        item.update(mel=clip["mel_real"], mel_length=clip["mel_length"])
    return item


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PhaseClock:
    """Wall time per phase of a step; wraps model.encode_audio so the encoder's forward is split out."""

    def __init__(self, model, device: torch.device):
        self.device, self.totals, self.last_encoder = device, dict.fromkeys(PHASES, 0.0), 0.0
        inner = model.encode_audio

        def timed_encode(mel, mel_lengths):
            sync(device)
            t0 = time.perf_counter()
            out = inner(mel, mel_lengths)
            sync(device)
            self.last_encoder = time.perf_counter() - t0
            self.totals["encoder_fwd"] += self.last_encoder
            return out

        model.encode_audio = timed_encode  # instance attribute: AudioLLM.embed calls self.encode_audio

    def pop_encoder(self) -> float:
        """The encoder time inside the step just run (subtracted from its forward)."""
        t, self.last_encoder = self.last_encoder, 0.0
        return t

    def add(self, phase: str, seconds: float) -> None:
        self.totals[phase] += seconds


def _busy_cpu_seconds() -> float | None:
    """CPU seconds spent by everything on the host (Linux /proc/stat), or None elsewhere."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = v
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class ForeignLoad:
    """Cores used by other processes while a block runs: host CPU time minus this process's, over wall time."""

    def __enter__(self):
        self.host, self.own, self.wall = _busy_cpu_seconds(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        host = _busy_cpu_seconds()
        wall = time.perf_counter() - self.wall
        if host is None or self.host is None or wall <= 0:
            self.cores = float("nan")
        else:
            self.cores = max(0.0, (host - self.host) - (time.process_time() - self.own)) / wall


def wait_quiet(max_seconds: float, threshold: float = 0.25) -> float:
    """Wait (up to max_seconds) until other processes use under `threshold` cores for 1 s; returns seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_seconds:
        with ForeignLoad() as load:
            time.sleep(1.0)
        if not load.cores >= threshold:  # nan (no /proc/stat) counts as quiet
            break
    return time.perf_counter() - start


def run_steps(model, opt, params, batches: list[dict], clip: float, device: torch.device,
              clock: PhaseClock | None) -> float:
    """Train on `batches` (already on device); returns the wall time of all steps."""
    sync(device)
    start = time.perf_counter()
    for batch in batches:
        t0 = time.perf_counter()
        loss = model(batch)["loss"]
        sync(device)
        t1 = time.perf_counter()
        loss.backward()
        sync(device)
        t2 = time.perf_counter()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        t3 = time.perf_counter()
        if clock is not None:
            clock.add("rest_fwd", t1 - t0 - clock.pop_encoder())
            clock.add("backward", t2 - t1)
            clock.add("optimizer", t3 - t2)
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=64, help="number of clips (default 64)")
    ap.add_argument("--min-seconds", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="timed passes per path; the best is reported")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before each timed pass")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: cpu count)")
    ap.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {','.join(PATHS)}")
    ap.add_argument("--wait-quiet", type=float, default=15.0,
                    help="before each timed pass, wait up to this many seconds for other processes to go idle")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--json", default=None, help="write all figures to this json file")
    ap.add_argument("--profile", action="store_true",
                    help="after timing, print torch.profiler's top ops for one pass of real_bucketed")
    args = ap.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    for p in paths:
        if p not in PATHS:
            ap.error(f"--paths: unknown path {p!r}; expected some of {', '.join(PATHS)}")
    if "pad30" not in paths or "real_bucketed" not in paths:
        ap.error("--paths must include pad30 and real_bucketed (the speedup compares them)")

    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    cfg = load_config("base", [f"seed={args.seed}"])  # stage finetune, tiny preset, LoRA r8
    torch.manual_seed(args.seed)
    model = build(cfg).to(device).train()
    state = copy.deepcopy(model.state_dict())
    params = [p for p in model.parameters() if p.requires_grad]
    clip_norm = float(cfg.trainer.gradient_clip_val or 0.0)

    clips, fe_seconds = make_clips(args.clips, args.min_seconds, args.max_seconds, args.seed, model.tokenizer)
    orders = batch_orders(clips, args.batch_size, args.seed)
    collate = Collator(model.tokenizer, cfg.model.pool_stride, train=True)
    prepared, stats = {}, {}
    for path in paths:
        t0 = time.perf_counter()
        cpu_batches = [collate([item_for(clips[i], path) for i in idx]) for idx in orders[path]]
        collate_s = time.perf_counter() - t0
        real_mel = sum(clips[i]["mel_length"] for idx in orders[path] for i in idx)
        computed_mel = sum(b["mel"].shape[0] * b["mel"].shape[2] for b in cpu_batches)
        stats[path] = {
            "steps": len(cpu_batches),
            "audio_seconds": sum(clips[i]["seconds"] for idx in orders[path] for i in idx),
            "encoder_real_share": real_mel / computed_mel,
            "encoder_mel_frames_per_step": computed_mel / len(cpu_batches),
            "llm_tokens_per_step": statistics.mean(b["input_ids"].numel() for b in cpu_batches),
            "llm_real_tokens_per_step": statistics.mean(int(b["attention_mask"].sum()) for b in cpu_batches),
            "collate_seconds": collate_s,
        }
        prepared[path] = [to_device(b, device) for b in cpu_batches]

    def fresh(path: str):
        model.load_state_dict(state)
        model.audio_padding = "pad30" if path.startswith("pad") else "real"
        return torch.optim.AdamW(params, lr=args.lr, weight_decay=cfg.trainer.weight_decay)

    times = {p: [] for p in paths}
    phases = {p: [] for p in paths}
    foreign = {p: [] for p in paths}
    # Paths interleaved within each repeat, so background load hits all of them alike.
    for rep in range(args.repeats):
        for path in paths:
            gc.collect()
            opt = fresh(path)
            batches = prepared[path]
            run_steps(model, opt, params, [batches[k % len(batches)] for k in range(args.warmup)],
                      clip_norm, device, None)
            waited = wait_quiet(args.wait_quiet)
            clock = PhaseClock(model, device)
            with ForeignLoad() as load:
                times[path].append(run_steps(model, opt, params, batches, clip_norm, device, clock))
            del model.encode_audio
            phases[path].append(clock.totals)
            foreign[path].append(load.cores)
            print(f"  repeat {rep + 1}/{args.repeats} {path:<16} {times[path][-1]:7.2f} s for {len(batches)} steps"
                  f"  (other processes used {load.cores:.2f} cores; waited {waited:.0f} s for quiet)", flush=True)

    results = {}
    for path in paths:
        best = int(np.argmin(times[path]))
        s = stats[path]
        t = times[path][best]
        results[path] = dict(s, seconds_all_repeats=times[path], foreign_cores_all_repeats=foreign[path],
                             foreign_cores=foreign[path][best], seconds=t, seconds_per_step=t / s["steps"],
                             audio_seconds_per_second=s["audio_seconds"] / t,
                             phases_seconds_per_step={k: v / s["steps"] for k, v in phases[path][best].items()})
    base = results["pad30"]["audio_seconds_per_second"]
    for r in results.values():
        r["speedup_vs_pad30"] = r["audio_seconds_per_second"] / base

    print()
    print(f"Training step = forward + backward + AdamW (grad clip {clip_norm:g}); stage {cfg.stage}, "
          f"preset {cfg.model.preset}, LoRA r{cfg.lora.r}, fp32, batch {args.batch_size}, "
          f"{args.clips} clips of {args.min_seconds:g}-{args.max_seconds:g} s "
          f"({sum(c['seconds'] for c in clips):.1f} s of audio), best of {args.repeats} passes "
          f"after {args.warmup} warm-up steps.")
    print(f"Mel features ({fe_seconds:.1f} s) and collation were done before timing and are not measured.")
    print()
    head = (f"{'path':<16} {'steps':>5} {'s/step':>7} {'audio-s/s':>9} {'vs pad30':>8} {'enc real':>8} "
            f"{'LLM tok/step':>12} {'(real)':>7}")
    print(head)
    print("-" * len(head))
    for path, r in results.items():
        print(f"{path:<16} {r['steps']:>5} {r['seconds_per_step']:>7.3f} {r['audio_seconds_per_second']:>9.1f} "
              f"{r['speedup_vs_pad30']:>7.2f}x {100 * r['encoder_real_share']:>7.1f}% "
              f"{r['llm_tokens_per_step']:>12.0f} {r['llm_real_tokens_per_step']:>7.0f}")
    print()
    print("enc real = real mel frames / mel frames the encoder computed over (padding included); "
          "LLM tok/step = B x padded length (real = unpadded).")
    print()
    head = f"{'where the time goes':<16} " + " ".join(f"{p:>12}" for p in PHASES) + f" {'(ms/step)':>10}"
    print(head)
    print("-" * len(head))
    for path, r in results.items():
        ph = r["phases_seconds_per_step"]
        tot = sum(ph.values())
        print(f"{path:<16} " + " ".join(f"{1000 * ph[k]:>6.0f} ({100 * ph[k] / tot:>2.0f}%)" for k in PHASES))
    print("encoder_fwd = model.encode_audio (encoder, pooling, projector); rest_fwd = embedding splice, "
          "LLM, loss; optimizer includes grad clipping.")
    print()
    host = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
            or platform.machine(), "torch": torch.__version__, "python": platform.python_version()}
    try:
        host["load_average"] = os.getloadavg()
    except OSError:
        pass
    print("host: " + ", ".join(f"{k}={v}" for k, v in host.items()))
    busy = {p: r["foreign_cores"] for p, r in results.items() if r["foreign_cores"] > 0.25}
    if busy:
        print("WARNING: other processes were busy during the reported passes ("
              + ", ".join(f"{p}: {c:.2f} cores" for p, c in busy.items())
              + "); with torch threads = cores every op waits for the scheduler, so those figures are noisy.")
    else:
        print("other processes stayed under 0.25 cores during every reported pass")
    if "pad_everything" in results:
        print(f"pad_everything is {results['real_bucketed']['audio_seconds_per_second'] / results['pad_everything']['audio_seconds_per_second']:.2f}x "
              "behind real_bucketed")

    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        opt = fresh("real_bucketed")
        run_steps(model, opt, params, prepared["real_bucketed"][:args.warmup], clip_norm, device, None)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=acts) as prof:
            run_steps(model, opt, params, prepared["real_bucketed"], clip_norm, device, None)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "host": host, "feature_extraction_seconds": fe_seconds,
                       "results": results,
                       "speedup_vs_30s_padding": results["real_bucketed"]["speedup_vs_pad30"]}, f, indent=2)
    print(f"speedup_vs_30s_padding: {results['real_bucketed']['speedup_vs_pad30']:.2f}")


if __name__ == "__main__":
    main()
