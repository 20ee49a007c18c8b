"""Memory a job holds: the resident size of a process tree and its peak while a job runs, and the start-up check that
a training run fits the memory free now, instead of being killed part-way."""

from __future__ import annotations

import threading
from pathlib import Path

import lightning as L
import psutil
import torch

from qa_lab.heap import GB, HeapTrim


def tree_rss(pid: int | None = None) -> int:
    """Bytes resident in process `pid` (default this one) and all its descendants."""
    root = psutil.Process(pid)
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # ended between the listing and the read
            pass
    return total


class PeakMemory:
    """Samples this process tree's resident size every `interval` s while the `with` block runs; `.peak` is the largest
    sum over the processes alive at one moment (resource.getrusage knows only each process's own peak)."""

    def __init__(self, interval: float = 1.0):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="peak-memory")

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss())
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class HandBackFreedMemory(L.Callback):
    """Training's side of qa_lab.heap: a HeapTrim after every optimiser step, and a full trim after each
    validation (its decoding leaves holes of its own)."""

    def __init__(self, slack_gb: float = 0.5):
        self.trim = HeapTrim(slack_gb)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.trim()

    def on_validation_end(self, trainer, pl_module) -> None:
        self.trim(force=True)


def available_bytes() -> int:
    """Memory this process may still take: the system's available memory, or less where a cgroup (a container, a
    SLURM job) sets a lower limit."""
    free = psutil.virtual_memory().available
    limit, used = Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")
    try:
        if limit.read_text().strip() != "max":
            free = min(free, int(limit.read_text()) - int(used.read_text()))
    except (OSError, ValueError):
        pass
    return free


def training_bytes(model, batch_tokens: int) -> dict[str, int]:
    """What training `model` adds to a process that holds it: gradients and AdamW's two moments (fp32) for the trained
    parameters, and the LM head's logits with their gradient for `batch_tokens` tokens. A lower bound: the layers'
    own activations are left out (small at the kit's CPU scales; governed by data.batch_seconds)."""
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    vocab = model.language_model.get_output_embeddings().weight.shape[0]
    return {"gradients and AdamW moments": 3 * 4 * trained, "logits": 2 * 4 * batch_tokens * vocab}


def check_fits(parts: dict[str, int], where: str, available: int) -> None:
    """Refuse a run whose need (`parts`: name -> bytes) is over `available`, naming both."""
    need = sum(parts.values())
    if need > available:
        detail = ", ".join(f"{k} {v / GB:.2f}" for k, v in parts.items())
        raise ValueError(f"this run needs at least {need / GB:.1f} GB more ({detail}) but {where} has "
                          f"{available / GB:.1f} GB free: lower data.batch_seconds, train fewer parameters (LoRA: "
                          "stage=finetune), use a smaller model.preset, or free memory")


def check_training_fits(model, batch_seconds: float, device: str = "cpu") -> None:
    """The start-up check for a batch of `batch_seconds` of audio (its audio frames alone, a lower bound on its
    tokens). On a GPU the weights count too: Lightning moves them there."""
    parts = training_bytes(model, int(batch_seconds / model.frame_seconds))
    if device == "cuda":
        parts = {"weights": sum(p.numel() * p.element_size() for p in model.parameters()), **parts}
        check_fits(parts, f"GPU {torch.cuda.current_device()}", torch.cuda.mem_get_info()[0])
    else:
        check_fits(parts, "this machine", available_bytes())
