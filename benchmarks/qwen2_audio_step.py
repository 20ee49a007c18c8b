"""A Qwen2-Audio LoRA training step: transformers' own path against the kit's, same weights, same clips, same run.

  processor  what a transformers user writes: Qwen2AudioProcessor pads every clip to 30 s (padding="max_length",
             3000 mel frames), Qwen2AudioForConditionalGeneration runs its masked 30 s window, peft LoRA on the LLM;
             random batches.
  kit        the same checkpoint loaded by the kit (qa_lab.core.qwen2_audio.parts_of): real-length mel with the
             processor's frame count, the tower at the batch's own length (features equal to the 30 s window's to
             float rounding: tests/test_qwen2_audio.py), LoRA by the kit's finetune stage; batches cut from
             duration-sorted clips (batch order shuffled).

Both arms start from the same random weights (built from the same seed; no download) and train LoRA on the LLM's
attention and MLP projections (r 8) and the projector with AdamW; the kit also trains the embedding rows of the tokens
it adds (time tokens ...: 3.4k rows, which at the tiny shape's 600-token vocabulary make its LM head 8x wider). Mel features, tokenisation and collation happen before timing. Each batch's time
is its fastest over the repeats. The last line is `speedup_vs_processor_path: X.XX` (kit over processor, in audio
seconds per second of training).

    python benchmarks/qwen2_audio_step.py                       # tiny shape, 2-core CPU: ~2 min
    python benchmarks/qwen2_audio_step.py --shape 7b --device cuda --dtype bf16   # Qwen2-Audio-7B's shapes
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from qa_lab.config import LoraConfig
from qa_lab.core.model import AudioLLM
from qa_lab.core.qwen2_audio import parts_of, tiny_tokenizer
from qa_lab.core.stages import apply_stage
from qa_lab.core.tokenizer import add_tag_tokens
from qa_lab.data.audio import AudioFront
from qa_lab.data.dataset import Collator
from qa_lab.frames import SAMPLE_RATE
from qa_lab.prompts import tags
from qa_lab.prompts.tasks import prompt
from qa_lab.world.speech import sentences

# Qwen2-Audio-7B's shapes (its config.json: a Whisper-large-v3-shaped tower, Qwen-7B) and a CPU-sized one.
SHAPES = {
    "tiny": (dict(d_model=256, encoder_layers=4, encoder_attention_heads=4, encoder_ffn_dim=1024),
             dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2), None),
    "7b": (dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120),
           dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=32), 156032),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build_full(shape: str, tok, device: torch.device, dtype: torch.dtype, seed: int):
    """A random Qwen2AudioForConditionalGeneration of `shape` on `device` in `dtype`."""
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration
    audio, text, vocab = SHAPES[shape]
    cfg = Qwen2AudioConfig(
        audio_config=dict(model_type="qwen2_audio_encoder", num_mel_bins=128, max_source_positions=1500, **audio),
        text_config=dict(model_type="qwen2", vocab_size=vocab or len(tok), max_position_embeddings=8192,
                         tie_word_embeddings=False, **text),
        audio_token_id=tok.convert_tokens_to_ids(tags.QWEN2_AUDIO_TOKEN))
    torch.manual_seed(seed)
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            full = Qwen2AudioForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(torch.float32)
    return full.train()


def make_clips(n: int, min_s: float, max_s: float, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for d, text in zip(rng.uniform(min_s, max_s, n), sentences(n, seed, "train")):
        t = np.arange(int(d * SAMPLE_RATE)) / SAMPLE_RATE
        audio = sum(0.1 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t) for _ in range(3))
        out.append({"audio": (audio + 0.01 * rng.standard_normal(len(t))).astype(np.float32), "text": text,
                    "seconds": len(t) / SAMPLE_RATE})
    return out


def processor_batches(clips, order, tok, device) -> list[dict]:
    """transformers' inputs for each batch: 30 s mel, the prompt and target, labels on the target tokens only."""
    from transformers import Qwen2AudioProcessor, WhisperFeatureExtractor
    proc = Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok)
    head = f"{tags.QWEN2_AUDIO_BOS}{tags.QWEN2_AUDIO_TOKEN}{tags.QWEN2_AUDIO_EOS}{prompt('asr', 'qwen2-audio')}"
    out = []
    for idx in order:
        texts = [head + clips[i]["text"] + tok.eos_token for i in idx]
        inp = proc(text=texts, audio=[clips[i]["audio"] for i in idx], sampling_rate=SAMPLE_RATE,
                   return_tensors="pt", padding=True)
        labels = torch.full_like(inp["input_ids"], -100)
        for row, i in enumerate(idx):
            k = len(tok(clips[i]["text"] + tok.eos_token, add_special_tokens=False)["input_ids"])
            end = int(inp["attention_mask"][row].sum())  # right-padded: the target ends the real tokens
            labels[row, end - k:end] = inp["input_ids"][row, end - k:end]
        out.append({k: v.to(device) for k, v in {**inp, "labels": labels}.items()})
    return out


def kit_batches(clips, order, model: AudioLLM, device) -> list[dict]:
    front: AudioFront = model.front
    tok = model.tokenizer
    collate = Collator(tok, model.pool_stride, train=True, markers=front.markers)
    prompt_ids = tok(prompt("asr", "qwen2-audio"), add_special_tokens=False)["input_ids"]
    out = []
    for idx in order:
        items = []
        for i in idx:
            mel, n = front.mel(clips[i]["audio"])
            items.append({"mel": torch.from_numpy(mel), "mel_length": n, "prompt_ids": prompt_ids, "task": "asr",
                          "target_ids": tok(clips[i]["text"], add_special_tokens=False)["input_ids"], "index": i})
        out.append({k: v.to(device) if torch.is_tensor(v) else v for k, v in collate(items).items()})
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, batches, repeats: int, device) -> list[float]:
    """Fastest time of each batch's step over `repeats` passes (one warm-up step first)."""
    step(batches[0])
    best = [float("inf")] * len(batches)
    for _ in range(repeats):
        for j, b in enumerate(batches):
            sync(device)
            t0 = time.perf_counter()
            step(b)
            sync(device)
            best[j] = min(best[j], time.perf_counter() - t0)
    return best


def count_only(shape: str) -> None:
    """Parameters of the shape, the kit's finetune-stage trainable ones (LoRA r 8, projector, added token rows), and
    the memory of its weights in bf16, from a build on the meta device."""
    tok = tiny_tokenizer()
    full = build_full(shape, tok, torch.device("meta"), torch.float32, 0)
    n_tower, n_llm = (sum(p.numel() for p in m.parameters()) for m in (full.model.audio_tower, full.model.language_model))
    total = sum(p.numel() for p in full.parameters())
    add_tag_tokens(tok, prompt_tags=False)
    tower, llm, projector = parts_of(full)
    # the released tokenizer (~151.6k tokens) plus the ~3.4k the kit adds still fits the 7B's 156,032-row table
    model = AudioLLM(tower, llm, tok, tower="qwen2-audio")
    model.projector = projector
    model = apply_stage(model, "finetune", LoraConfig(r=8, alpha=16, dropout=0.0))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"shape {shape}: {total / 1e9:.2f} B parameters (audio tower {n_tower / 1e9:.2f} B, LLM and head "
          f"{(total - n_tower) / 1e9:.2f} B, LLM body {n_llm / 1e9:.2f} B)")
    print(f"weights in bf16: {2 * total / 2**30:.1f} GiB; finetune stage trains {trainable / 1e6:.1f} M parameters "
          f"(AdamW state in fp32: {12 * trainable / 2**30:.2f} GiB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=tuple(SHAPES), default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--min-seconds", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, metavar="OUT", help="write the figures to this json file")
    ap.add_argument("--count-only", action="store_true", help="build the shape on the meta device (no memory, any "
                    "machine) and print its parameter counts and weight memory instead of timing")
    args = ap.parse_args()
    if args.count_only:
        count_only(args.shape)
        return
    device, dtype = torch.device(args.device), {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    clips = make_clips(args.clips, args.min_seconds, args.max_seconds, args.seed)
    seconds = [c["seconds"] for c in clips]
    rng = np.random.default_rng([args.seed, 1])
    chunk = lambda o: [list(map(int, o[i:i + args.batch_size])) for i in range(0, len(o), args.batch_size)]  # noqa: E731
    random_order = chunk(rng.permutation(len(clips)))
    by_length = chunk(np.argsort(seconds, kind="stable"))
    bucketed = [by_length[j] for j in rng.permutation(len(by_length))]
    lora = LoraConfig(r=8, alpha=16, dropout=0.0)
    results = {}
    for arm in ("processor", "kit"):
        tok = tiny_tokenizer()
        full = build_full(args.shape, tok, device, dtype, args.seed)
        if arm == "processor":
            from peft import LoraConfig as PeftLora
            from peft import get_peft_model
            model = get_peft_model(full, PeftLora(r=lora.r, lora_alpha=lora.alpha, lora_dropout=0.0,
                                                  target_modules=rf"model\.language_model\..*\.({'|'.join(TARGETS)})"))
            full.model.multi_modal_projector.requires_grad_(True)  # trained in the kit's finetune stage too
            batches = processor_batches(clips, random_order, tok, device)
            loss_of = lambda b: model(**b).loss  # noqa: E731
            order = random_order
        else:
            add_tag_tokens(tok, prompt_tags=False)
            tower, llm, projector = parts_of(full)
            if len(tok) > llm.get_input_embeddings().num_embeddings:
                llm.resize_token_embeddings(len(tok), pad_to_multiple_of=64, mean_resizing=False)
            model = AudioLLM(tower, llm, tok, tower="qwen2-audio")
            model.projector = projector
            model = apply_stage(model, "finetune", lora).to(device).train()
            batches = kit_batches(clips, bucketed, model, device)
            loss_of = lambda b: model(b)["loss"]  # noqa: E731
            order = bucketed
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)

        def step(b):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss = loss_of(b)
            loss.backward()
            opt.step()

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        best = time_steps(step, batches, args.repeats, device)
        audio_s = sum(seconds[i] for idx in order for i in idx)
        results[arm] = {"seconds_per_step": sum(best) / len(best), "audio_seconds_per_second": audio_s / sum(best),
                        "trainable_parameters": sum(p.numel() for p in params)}
        if device.type == "cuda":
            results[arm]["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
        print(f"{arm:9s}  {results[arm]['seconds_per_step']:.3f} s/step  "
              f"{results[arm]['audio_seconds_per_second']:.1f} audio-s/s", flush=True)
        del model, full, opt, batches
    speedup = results["kit"]["audio_seconds_per_second"] / results["processor"]["audio_seconds_per_second"]
    if args.json:
        meta = {"shape": args.shape, "device": str(device), "dtype": args.dtype, "clips": args.clips,
                "batch_size": args.batch_size, "torch": torch.__version__, "host": platform.processor() or
                platform.machine(), "threads": torch.get_num_threads()}
        with open(args.json, "w") as f:
            json.dump({**meta, **results, "speedup_vs_processor_path": speedup}, f, indent=1)
    print(f"speedup_vs_processor_path: {speedup:.2f}")


if __name__ == "__main__":
    main()
