"""Training-step throughput and MFU of the paper-shaped model (Whisper-large-v2 encoder + a 7B Qwen2) on one GPU.

Both models are built from configs with random weights (no download), bf16 weights and compute (no fp32 master copy;
peft keeps the LoRA adapters and the tag tokens' rows in fp32), LoRA on the LLM (stage `finetune`: encoder frozen;
LoRA, the projector and the tag tokens' embedding rows train), and timed over forward + backward + AdamW on
duration-sorted batches of synthetic 1-30 s clips. Arms: each path x
gradient checkpointing (off / on) [x QLoRA]:

  real    the kit's path: real-length mel, masked encoder at the batch's own length.
  pad30   the peers' path: mel padded to 30 s, stock WhisperEncoder over 1500 frames, output trimmed before the LLM.

Both paths see the same batches (clips sorted by duration, cut into --batch-size, batch order shuffled), so they
differ only in the 30 s padding. `--qlora` adds the arms again with the LLM's decoder Linear layers in 4-bit NF4
(bitsandbytes; skipped with a line saying why when it is not importable).

Model FLOPs per step are counted from the shapes of each batch as computed (padding included), per block (Whisper
conv1, conv2, each encoder layer, the projector, each LLM layer, the LM head), counting matmuls only (2 FLOPs per
multiply-add; norms, softmax, activations, the loss and AdamW are not counted):
  forward    2 x (weights in the block's Linear / Conv1d layers, LoRA adapters included) x positions it runs over,
             plus attention 2 x 2 x T^2 x d per layer and example (scores and weighted sum over the full T x T, as
             PaLM's MFU counts it; T = frames or tokens, d = heads x head dim).
  backward   weight gradients: 2 x trained weights x positions (LoRA, projector); activation gradients: the block's
             forward again plus its attention term once more (dQ, dK and dA, dV) in every block above the lowest one
             with a trained weight (so through every LLM layer: the projector below them trains; not through the
             frozen encoder).
A frozen weight costs 2 passes (forward, input gradient), a trained one 3. The common shortcut "backward = 2 x
forward wherever gradients flow" would charge the frozen LLM weights a weight gradient that is never computed; its
count is in the json (`flops_per_step_backward_2x`, `mfu_backward_2x`) for comparison only. Not counted either: the
recompute of gradient checkpointing (this is MFU, not hardware FLOPs utilisation), and the full head-sized weight
gradient through which peft trains the tag tokens' rows of the untied LM head (one head matmul per step, under 1 % at
7B). `useful` figures count the same per clip at its real length (no batch padding, no 30 s padding; the LM head only
at the target tokens), so useful MFU compares the paths on the same work. MFU = model FLOPs / (seconds x the
device's dense bf16 peak: PEAK_FLOPS, or --peak-tflops); n/a on CPU.

For the 7B shape the LLM's token table is resized to Qwen2's 152064 rows (the kit's tiny tokenizer has ~4k tokens),
so the LM head and the embedding memory are those of the real model; the prompts and targets still use the tiny
tokenizer's ids. The last line is `mfu_kit_path: X`: the real path, bf16 LoRA, checkpointing off if that arm ran (else
on), as a fraction (or `n/a`).

    python benchmarks/gpu_step.py --shape 7b [--batch-size 4] [--steps 20] [--checkpointing both] [--qlora]
    python benchmarks/gpu_step.py --shape tiny --device cpu --clips 8 --max-seconds 10 --steps 2 --warmup 1  # smoke
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
import warnings

import torch
import torch.nn as nn

from qa_lab.config import load_config
from qa_lab.core.build import assemble, build_tokenizer
from qa_lab.core.stages import apply_stage
from qa_lab.data.dataset import Collator
from qa_lab.frames import IGNORE
from qa_lab.presets import PRESETS, Preset
from train_step import batch_orders, item_for, make_clips  # benchmarks/ is on sys.path when run as a script

# Whisper-large-v2's encoder and Qwen2-7B's decoder, as config values only: random weights, no download.
PRESETS["gpu-step-7b"] = Preset(
    audio_encoder=None,
    language_model=None,
    encoder_config=dict(num_mel_bins=80, d_model=1280, encoder_layers=32, encoder_attention_heads=20,
                        encoder_ffn_dim=5120, max_source_positions=1500),
    llm_config=dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                    num_key_value_heads=4, max_position_embeddings=32768, rope_theta=1e6, tie_word_embeddings=False),
)
# shape -> (preset, rows of the LLM's token table). The 7B's table is resized after building to Qwen2's 152064 rows
# (the kit's tiny tokenizer has ~4k), so the LM head costs what it does in the real model; tiny keeps its own.
SHAPES = {"7b": ("gpu-step-7b", 152064), "tiny": ("tiny", None)}
PATHS = ("real", "pad30")
# Dense bf16 peak FLOP/s (NVIDIA datasheets, without sparsity); first substring of the device name that matches.
PEAK_FLOPS = (("H200", 989e12), ("H100 PCIe", 756e12), ("H100", 989e12), ("A100", 312e12), ("L40S", 362e12))


# --- the model for an arm ------------------------------------------------------------------------

def quantize_llm(llm: nn.Module, device: torch.device, dtype: torch.dtype) -> None:
    """Swap the decoder's Linear layers for bitsandbytes NF4 ones in place (what from_pretrained with load_in_4bit
    does to a checkpoint; random weights have no checkpoint to load). Embeddings and the LM head stay in `dtype`."""
    import bitsandbytes as bnb
    decoder = llm.get_decoder()
    for name in [n for n, m in decoder.named_modules() if type(m) is nn.Linear]:
        lin = decoder.get_submodule(name)
        q = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=lin.bias is not None,
                              compute_dtype=dtype, quant_type="nf4", device="meta")
        q.weight = bnb.nn.Params4bit(lin.weight.data, requires_grad=False, quant_type="nf4", module=q)
        if lin.bias is not None:
            q.bias = nn.Parameter(lin.bias.data, requires_grad=False)
        decoder.set_submodule(name, q.to(device))  # moving a Params4bit quantizes it


def arm_config(shape: str, checkpointing: bool, overrides: list[str]):
    """The run config of an arm: the shape's preset, stage finetune, checkpointing on or off, then --set overrides."""
    return load_config("base", [f"model.preset={SHAPES[shape][0]}", "stage=finetune",
                                f"model.gradient_checkpointing={str(checkpointing).lower()}", *overrides])


def build_arm(cfg, shape: str, qlora: bool, device: torch.device, dtype: torch.dtype, tokenizer):
    """The model of an arm in `dtype` on `device`, frozen and LoRA-wrapped for cfg.stage.

    qa_lab.core.build.build_model with two steps between making the backbones and wrapping them for the stage (peft's
    wrappers would hide the token table and the Linear layers): the token table resized, the LLM quantized."""
    torch.manual_seed(cfg.seed)
    torch.set_default_dtype(dtype)  # initialise in bf16 on the device: a 7B in fp32 on the host is 30 GB
    try:
        with torch.device(device):
            model = assemble(cfg.model, tokenizer)
            if SHAPES[shape][1]:
                model.language_model.resize_token_embeddings(SHAPES[shape][1], mean_resizing=False)
    finally:
        torch.set_default_dtype(torch.float32)
    model.to(device)  # what torch.device() did not place (buffers made on the host); dtypes as built
    if qlora:
        quantize_llm(model.language_model, device, dtype)
    return apply_stage(model, cfg.stage, cfg.lora, cfg.model.freeze).train()


def make_batches(args, tokenizer, pool_stride: int, device: torch.device, dtype: torch.dtype):
    """({path: batches on device}, audio seconds per batch): synthetic clips as in train_step.py, sorted by duration
    and cut into --batch-size (batch order shuffled); both paths get the same clips in the same batches."""
    clips, _ = make_clips(args.clips, args.min_seconds, args.max_seconds, args.seed, tokenizer)
    order = batch_orders(clips, args.batch_size, args.seed)["real_bucketed"]
    collate = Collator(tokenizer, pool_stride, train=True)
    batches = {}
    for path in PATHS:
        batches[path] = []
        for idx in order:
            b = collate([item_for(clips[i], "pad30" if path == "pad30" else "real_bucketed") for i in idx])
            b = {k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()}
            batches[path].append(dict(b, mel=b["mel"].to(dtype)))  # (B, 80, T): T = 3000 for pad30
    return batches, [sum(clips[i]["seconds"] for i in idx) for idx in order]


# --- model FLOPs from the shapes -----------------------------------------------------------------

def matmul_weights(module: nn.Module) -> tuple[int, int]:
    """(frozen, trained) multiply-adds per position in `module`'s Linear and Conv1d layers (4-bit ones included)."""
    frozen = trained = 0
    for m in module.modules():
        if isinstance(m, nn.Linear):  # bnb.nn.Linear4bit is one too; its packed weight's shape is not the layer's
            n = m.in_features * m.out_features
        elif isinstance(m, nn.Conv1d):
            n = m.in_channels * m.out_channels * m.kernel_size[0] // m.groups
        else:
            continue
        if m.weight.requires_grad:
            trained += n
        else:
            frozen += n
    return frozen, trained


def unwrap(module: nn.Module) -> nn.Module:
    return module.get_base_model() if hasattr(module, "get_base_model") else module  # peft's PeftModel


def step_flops(model, batch_size: int, mel_frames: int, tokens: int, head_tokens: int) -> dict[str, int]:
    """Model FLOPs of one training step over batch_size examples of mel_frames (encoder input), tokens (LLM input)
    and head_tokens (positions the LM head scores): forward, backward and the 2x-forward backward (module doc)."""
    tower, llm = unwrap(model.audio_tower), unwrap(model.language_model)
    B, T2 = batch_size, (mel_frames - 1) // 2 + 1  # encoder frames after conv2 (stride 2)
    d_enc = tower.config.d_model
    c = llm.config
    d_attn = c.num_attention_heads * (getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads)
    blocks = [(tower.conv1, B * mel_frames, 0), (tower.conv2, B * T2, 0),
              *[(layer, B * T2, 4 * B * T2 * T2 * d_enc) for layer in tower.layers], (tower.layer_norm, 0, 0),
              (model.projector, B * (T2 // model.pool_stride), 0), (llm.get_input_embeddings(), 0, 0),
              *[(layer, B * tokens, 4 * B * tokens * tokens * d_attn) for layer in llm.get_decoder().layers],
              (llm.get_output_embeddings(), head_tokens, 0)]  # in the order the forward runs them
    fwd = bwd = bwd_2x = 0
    grad_below = False  # a block below trains, so activation gradients flow through this one
    for module, positions, attention in blocks:
        frozen, trained = matmul_weights(module)
        f = 2 * (frozen + trained) * positions + attention
        trains = any(p.requires_grad for p in module.parameters())
        fwd += f
        bwd += 2 * trained * positions + ((f + attention) if grad_below else 0)
        bwd_2x += 2 * f if grad_below or trains else 0
        grad_below = grad_below or trains
    return {"forward": fwd, "backward": bwd, "backward_2x": bwd_2x}


def batch_flops(model, batch: dict) -> tuple[dict[str, int], int]:
    """(FLOPs of the batch as computed, padding included; useful FLOPs: each clip alone at its real length)."""
    labels, mask = batch["labels"], batch["attention_mask"]
    B, L = labels.shape
    has_label = (labels != IGNORE).any(0).nonzero()  # as AudioLLM.forward: logits from the first label on
    keep = L - max(int(has_label[0]) - 1, 0) if len(has_label) else 1
    computed = step_flops(model, B, batch["mel"].shape[-1], L, B * keep)
    alone = [step_flops(model, 1, int(n), int(m.sum()), int((lab != IGNORE).sum()))
             for n, m, lab in zip(batch["mel_lengths"], mask, labels)]
    return computed, sum(f["forward"] + f["backward"] for f in alone)


# --- timing --------------------------------------------------------------------------------------

def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_peak(device: torch.device, override_tflops: float | None) -> tuple[str, float | None]:
    """(device name, dense bf16 peak FLOP/s or None when unknown or CPU)."""
    if device.type != "cuda":
        return f"{platform.machine()} {torch.backends.cpu.get_cpu_capability()} (CPU)", None
    name = torch.cuda.get_device_name(device)
    if override_tflops:
        return name, override_tflops * 1e12
    return name, next((peak for key, peak in PEAK_FLOPS if key in name), None)


def run_arm(model, batches: list[dict], seconds: list[float], flops: list, warmup: int, steps: int,
            device: torch.device) -> dict:
    """Warm-up steps, then `steps` timed forward + backward + AdamW steps cycling through `batches` (on device)."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)  # fresh per arm; the lr does not change the compute

    def step(batch):
        model(batch)["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for k in range(warmup):
        step(batches[k % len(batches)])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # weights, AdamW state and the timed steps' activations
    order = [(warmup + k) % len(batches) for k in range(steps)]
    step_seconds = []
    for k in order:
        sync(device)
        t0 = time.perf_counter()
        step(batches[k])
        sync(device)
        step_seconds.append(time.perf_counter() - t0)
    total = sum(step_seconds)
    audio = sum(seconds[k] for k in order)
    fl = [flops[k][0] for k in order]
    return dict(
        steps=steps, seconds_per_step=total / steps, steps_seconds=step_seconds,
        audio_seconds_per_second=audio / total,
        audio_hours_per_gpu_hour=audio / total,  # (audio s / 3600) / (device s / 3600) on one device
        tokens_per_second=sum(int(batches[k]["attention_mask"].sum()) for k in order) / total,
        peak_memory_gib=torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        flops_per_step=sum(f["forward"] + f["backward"] for f in fl) / steps,
        flops_per_step_backward_2x=sum(f["forward"] + f["backward_2x"] for f in fl) / steps,
        useful_flops_per_step=sum(flops[k][1] for k in order) / steps,
        trainable_parameters=sum(p.numel() for p in params),
    )


# --- main ----------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=tuple(SHAPES), default="7b", help="7b: the paper's shape; tiny: CPU smoke")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--clips", type=int, default=64, help="synthetic clips of 1-30 s (default 64)")
    ap.add_argument("--min-seconds", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per arm (cycling through the batches)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before each arm's timed ones")
    ap.add_argument("--checkpointing", choices=("off", "on", "both"), default="both",
                    help="model.gradient_checkpointing for the arms (default both)")
    ap.add_argument("--qlora", action="store_true", help="add the arms with a 4-bit NF4 base LLM (bitsandbytes)")
    ap.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16",
                    help="weights and compute (default bf16; fp32 for a CPU without fast bf16)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, for MFU")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override on top of experiments/base.yaml, e.g. lora.r=16 (repeatable)")
    ap.add_argument("--json", default=None, metavar="OUT", help="write all figures to this json file")
    args = ap.parse_args()
    if not 0 < args.min_seconds <= args.max_seconds <= 30:
        ap.error("--min-seconds / --max-seconds: expected 0 < min <= max <= 30 (Whisper's window)")
    if min(args.clips, args.batch_size, args.steps) < 1 or args.warmup < 0:
        ap.error("--clips, --batch-size and --steps must be >= 1, --warmup >= 0")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device (use --device cpu)")

    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' deprecation chatter
    device = torch.device(args.device)
    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    name, peak = device_peak(device, args.peak_tflops)
    ckpt_settings = {"off": [False], "on": [True], "both": [False, True]}[args.checkpointing]
    quant = [False]
    qlora_skipped = None
    if args.qlora:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as e:
            qlora_skipped = f"bitsandbytes is not importable ({e})"
            print(f"QLoRA arm skipped: {qlora_skipped}.", flush=True)
        else:
            quant.append(True)

    cfg = arm_config(args.shape, False, args.set)
    tokenizer = build_tokenizer(cfg)
    batches, seconds = make_batches(args, tokenizer, cfg.model.pool_stride, device, dtype)
    arms = []
    for qlora in quant:
        for checkpointing in ckpt_settings:
            t0 = time.perf_counter()
            cfg = arm_config(args.shape, checkpointing, args.set)
            model = build_arm(cfg, args.shape, qlora, device, dtype, tokenizer)
            built = time.perf_counter() - t0
            for path in PATHS:
                model.audio_padding = path
                flops = [batch_flops(model, b) for b in batches[path]]
                r = run_arm(model, batches[path], seconds, flops, args.warmup, args.steps, device)
                util = lambda key: r[key] / r["seconds_per_step"] / peak if peak else None  # noqa: E731
                arm = f"{path}/ckpt-{'on' if checkpointing else 'off'}" + ("/qlora" if qlora else "")
                r.update(arm=arm, path=path, checkpointing=checkpointing, qlora=qlora, build_seconds=built,
                         mfu=util("flops_per_step"), useful_mfu=util("useful_flops_per_step"),
                         mfu_backward_2x=util("flops_per_step_backward_2x"))
                arms.append(r)
                print(f"  {arm:<20} {r['seconds_per_step']:8.3f} s/step over {args.steps} steps "
                      f"(model built in {built:.0f} s)", flush=True)
                gc.collect()
            del model
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()

    lora = cfg.lora
    print()
    print(f"Training step = forward + backward + AdamW; shape {args.shape} (preset {SHAPES[args.shape][0]}), "
          f"{args.dtype}, stage finetune (LoRA r{lora.r} dropout {lora.dropout:g} on the LLM, encoder frozen)"
          f"{', overrides ' + ' '.join(args.set) if args.set else ''}; batch {args.batch_size}; {args.clips} clips of "
          f"{args.min_seconds:g}-{args.max_seconds:g} s ({sum(seconds):.0f} s of audio) in "
          f"duration-sorted batches; {args.warmup} warm-up steps, then {args.steps} timed per arm.")
    print(f"device: {name}; bf16 dense peak: {f'{peak / 1e12:.0f} TFLOP/s' if peak else 'n/a'}; "
          f"trainable parameters: {arms[0]['trainable_parameters'] / 1e6:.2f} M; torch {torch.__version__}")
    print()
    pct = lambda x: f"{100 * x:5.1f}%" if x is not None else "  n/a"  # noqa: E731
    head = (f"{'arm':<20} {'s/step':>7} {'audio-s/s':>9} {'tok/s':>8} {'audio h/GPU-h':>13} {'peak GiB':>8} "
            f"{'TFLOP/step':>10} {'MFU':>6} {'useful MFU':>10}")
    print(head)
    print("-" * len(head))
    for r in arms:
        mem = f"{r['peak_memory_gib']:8.2f}" if r["peak_memory_gib"] is not None else f"{'n/a':>8}"
        print(f"{r['arm']:<20} {r['seconds_per_step']:>7.3f} {r['audio_seconds_per_second']:>9.1f} "
              f"{r['tokens_per_second']:>8.0f} {r['audio_hours_per_gpu_hour']:>13.1f} {mem} "
              f"{r['flops_per_step'] / 1e12:>10.3f} {pct(r['mfu']):>6} {pct(r['useful_mfu']):>10}")
    print("tok/s: LLM input tokens (no padding) per second. audio h/GPU-h: hours of audio trained per device-hour. "
          "peak GiB: torch.cuda.max_memory_allocated over the timed steps. MFU: model FLOPs of the batch as computed; "
          "useful MFU: of the clips at their real length (module doc).")
    if qlora_skipped:
        print(f"QLoRA arm skipped: {qlora_skipped}.")
    if device.type == "cuda" and peak is None:
        print(f"no bf16 peak known for {name!r}: pass --peak-tflops for MFU")

    kit = [r for r in arms if r["path"] == "real" and not r["qlora"]]
    kit = min(kit, key=lambda r: r["checkpointing"])  # checkpointing off when that arm ran
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "device": name, "peak_flops": peak, "torch": torch.__version__,
                       "qlora_skipped": qlora_skipped, "arms": arms, "mfu_kit_path": kit["mfu"]}, f, indent=2)
    print(f"mfu_kit_path: {kit['mfu']:.3f}" if kit["mfu"] is not None else "mfu_kit_path: n/a")


if __name__ == "__main__":
    main()
