"""Memory a job holds: the resident size of a process tree and its peak while a job runs, and the start-up check that
a training run fits the memory free now, instead of being killed part-way."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import lightning as L
import psutil
import torch

GB = 2 ** 30


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


def hand_back_freed_memory() -> None:
    """Return the pages of freed heap blocks to the system (glibc's malloc_trim): a run of ever-new batch shapes leaves
    its heap full of free holes that glibc keeps resident otherwise. A no-op where the C library is not glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class HandBackFreedMemory(L.Callback):
    """hand_back_freed_memory() whenever the process holds `slack_gb` more than it did after the last time, and after
    each validation. A run's batches come in hundreds of shapes (make demo's arm met 319 by step 800), so glibc's heap
    fills with free holes it keeps resident: the arm held 2.50 GB at step 100 and 3.34 GB at step 1000, against
    about 1.65 GB live (benchmarks/memory_growth.py). Trimming costs the page faults of touching those pages again,
    so it runs only when the holes add up to `slack_gb`: every step or on a timer made the steps 11 to 40 % slower."""

    def __init__(self, slack_gb: float = 1.0):
        self.slack, self.floor = slack_gb * GB, None
        self.process = psutil.Process()

    def _trim(self) -> None:
        hand_back_freed_memory()
        self.floor = self.process.memory_info().rss

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.floor is None or self.process.memory_info().rss > self.floor + self.slack:
            self._trim()

    def on_validation_end(self, trainer, pl_module) -> None:
        self._trim()


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
