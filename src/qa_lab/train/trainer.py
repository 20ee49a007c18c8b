"""The Lightning Trainer a run gets: precision for this machine, the strategy (DDP, FSDP with its wrap policy,
DeepSpeed), checkpoints, loggers and the kit's callbacks."""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.strategies import FSDPStrategy

from qa_lab.config import Config
from qa_lab.core.checkpoint import AtomicCheckpointIO
from qa_lab.train.callbacks import GenerationEval, ProgressLine, StopOnNonFinite, StopOnSignal
from qa_lab.train.memory import HandBackFreedMemory

log = logging.getLogger(__name__)


PRECISION_ENV = "QA_LAB_PRECISION"  # e.g. 32-true: every run in this process and its children, whatever its config


def resolve_precision(precision: str) -> str:
    """trainer.precision -> a Lightning precision: auto is bf16-mixed on GPU, 32-true on CPU. QA_LAB_PRECISION, when
    set, replaces it (how the test suite runs on the fp32 path: `make test-fp32`). bf16 asked on a CPU without bf16
    matmuls (AVX512-BF16 or AMX) runs in 32-true instead, said once: emulated bf16 is several times slower there."""
    forced = os.environ.get(PRECISION_ENV)
    precision = forced or precision
    if precision == "auto":
        return "bf16-mixed" if torch.cuda.is_available() else "32-true"
    if precision.startswith("bf16") and not (forced or torch.cuda.is_available() or cpu_has_bf16(precision)):
        return "32-true"
    return precision


@functools.cache  # once per process
def cpu_has_bf16(precision: str = "bf16-mixed") -> bool:
    """Whether this CPU multiplies bf16 matrices natively (oneDNN's own check); warns once when it does not."""
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # private in torch 2.13
    except (AttributeError, RuntimeError):
        native = False
    if not native:
        log.warning("trainer.precision=%s: this CPU has no bf16 matrix instructions, so this run trains in 32-true "
                    "(set %s=%s to insist)", precision, PRECISION_ENV, precision)
    return native


def fsdp_layer_classes(model) -> set[type]:
    """The block classes FSDP wraps one unit each (transformers' `_no_split_modules` of the audio tower and the LLM,
    e.g. WhisperEncoderLayer and Qwen2DecoderLayer), so a rank gathers one layer's weights at a time, not the whole
    model's: the 7B shape's 28 decoder layers and 32 encoder layers become 60 units."""
    names = set()
    for part in (model.audio_tower, model.language_model):
        base = part.get_base_model() if hasattr(part, "get_base_model") else part  # under a PEFT wrapper
        names |= set(getattr(base, "_no_split_modules", None) or ())
    return {type(m) for m in model.modules() if type(m).__name__ in names}


def trainer_for(cfg: Config, run_dir: Path, extra_callbacks: list | None = None, label: str | None = None,
                progress_line: int = 0, model=None, **overrides) -> L.Trainer:
    """The Lightning Trainer of `cfg`, logging and checkpointing into run_dir. `model` (the AudioLLM) gives FSDP its
    wrap policy (fsdp_layer_classes); without it FSDP wraps the whole model as one unit."""
    t = cfg.trainer
    strategy = t.strategy
    if strategy == "fsdp":
        strategy = FSDPStrategy(use_orig_params=True,  # LoRA: frozen and trainable params share flat buffers
                                auto_wrap_policy=fsdp_layer_classes(model) if model is not None else None)
    elif strategy == "deepspeed":
        strategy = "deepspeed_stage_2"
    # the newest k by step; saved at the step itself (Lightning otherwise defers a monitored save at an epoch's last
    # batch to the validation that follows, and a run's final step was never written as stepN.ckpt)
    keep = dict(monitor="step", mode="max", save_top_k=t.keep_checkpoints, save_on_train_epoch_end=True) \
        if t.keep_checkpoints else dict(save_top_k=-1)
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="step{step}", auto_insert_metric_name=False,
                           every_n_train_steps=t.checkpoint_every_n_steps, save_last=True, **keep)
    callbacks = [ckpt, ProgressLine(label or cfg.name, progress_line),
                 StopOnSignal(run_dir / "checkpoints" / "last.ckpt"), StopOnNonFinite(t.lr), HandBackFreedMemory(),
                 *(extra_callbacks or [])]
    if t.val_decode_per_task:
        callbacks.append(GenerationEval(cfg, t.val_decode_per_task))
    kwargs = dict(
        default_root_dir=run_dir, max_steps=t.steps, precision=resolve_precision(t.precision),
        strategy=strategy, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        accumulate_grad_batches=t.accumulate_grad_batches, gradient_clip_val=t.gradient_clip_val or None,
        val_check_interval=t.val_every_n_steps * t.accumulate_grad_batches, check_val_every_n_epoch=None,  # batches
        log_every_n_steps=t.log_every_n_steps, use_distributed_sampler=False, callbacks=callbacks,
        logger=[CSVLogger(run_dir, name="", version="logs"), TensorBoardLogger(run_dir, name="", version="tb")],
        num_sanity_val_steps=0, enable_model_summary=False, enable_progress_bar=True,  # ProgressLine is the bar
    )
    if t.strategy not in ("fsdp", "deepspeed"):  # those write sharded checkpoints with their own IO
        kwargs["plugins"] = [AtomicCheckpointIO()]
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def check_strategy(cfg: Config) -> None:
    """Refuse, before any folder exists, a strategy this machine cannot run: Lightning's FSDP and DeepSpeed strategies
    need CUDA GPUs (DeepSpeed's says "only supported on CUDA GPUs" on a CPU), and DeepSpeed is an optional package."""
    strategy = cfg.trainer.strategy
    if strategy not in ("fsdp", "deepspeed"):
        return
    if cfg.trainer.accelerator == "cpu" or not torch.cuda.is_available():
        raise ValueError(f"trainer.strategy={strategy} needs GPUs: Lightning's {strategy} strategy has no CPU path "
                         "(use trainer.strategy=ddp on CPUs)")
    if strategy == "deepspeed":
        if importlib.util.find_spec("deepspeed") is None:
            raise ValueError("trainer.strategy=deepspeed needs the deepspeed package: pip install -e '.[deepspeed]'")
