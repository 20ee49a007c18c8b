"""Lightning callbacks: task metrics decoded at each validation, per-task gradient conflict on a probe batch, the
progress line, and the guards that stop a run on a signal (saving the step) or a non-finite loss (saving nothing)."""

from __future__ import annotations

import json
import math
import signal
import threading
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.utilities.exceptions import SIGTERMException
from tqdm import tqdm

from qa_lab.data.manifest import first_per_task
from qa_lab.errors import TrainingDiverged
from qa_lab.eval.harness import evaluate


GRAD_CONFLICT_FILE = "grad_conflict.jsonl"


# --- gradient conflict -------------------------------------------------------------------------------------------

def task_gradients(model: torch.nn.Module, batch: dict, params=None) -> dict[str, torch.Tensor]:
    """One flattened float32 gradient (P,) per task in `batch`, over `params` (default: every parameter of
    `model` that requires grad, in model.parameters() order).

    `model(batch)` must return per-example "loss_sum" (B,) and "n_tokens" (B,) as AudioLLM does; each task's loss
    is its token-mean, sum(loss_sum[task]) / sum(n_tokens[task]), i.e. the task's share of the training loss
    up to a constant. Uses torch.autograd.grad, so `.grad` fields (e.g. mid gradient accumulation) and weights are
    left untouched; runs in the model's current train/eval mode. Parameters a task's loss does not reach get
    zeros. Memory: K copies of the trainable parameters, fine for LoRA, projector or a `params` subset."""
    if params is None:
        params = [p for p in model.parameters() if p.requires_grad]
    params = list(params)
    if not params:
        raise ValueError("task_gradients: no parameters require grad (frozen model? pass params=)")
    tasks = batch["tasks"]
    with torch.enable_grad():
        out = model(batch)
        loss_sum, n_tokens = out["loss_sum"], out["n_tokens"]  # (B,), (B,)
        if len(tasks) != loss_sum.shape[0]:
            raise ValueError(f"task_gradients: batch['tasks'] has {len(tasks)} entries but the model returned "
                             f"{loss_sum.shape[0]} per-example losses")
        names = sorted(set(tasks))
        grads = {}
        for k, task in enumerate(names):
            mask = torch.tensor([t == task for t in tasks], device=loss_sum.device)
            loss = loss_sum[mask].sum() / n_tokens[mask].sum().clamp(min=1)
            gs = torch.autograd.grad(loss, params, retain_graph=k < len(names) - 1, allow_unused=True)
            grads[task] = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                                     for g, p in zip(gs, params)])
    return grads


def gradient_cosines(grads: dict[str, torch.Tensor]) -> tuple[list[str], np.ndarray]:
    """Tasks (sorted) and their (K, K) cosine matrix cos_ab = g_a . g_b / (|g_a| |g_b|), computed in float64;
    nan in the rows and columns of a task whose gradient is zero."""
    names = sorted(grads)
    if not names:
        return [], np.zeros((0, 0))
    g = torch.stack([grads[t].detach().double() for t in names])  # (K, P)
    norms = torch.linalg.vector_norm(g, dim=1)  # (K,)
    gram = g @ g.T  # (K, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (gram / (norms[:, None] * norms[None, :])).cpu().numpy()
    cos[norms.cpu().numpy() == 0, :] = np.nan
    cos[:, norms.cpu().numpy() == 0] = np.nan
    return names, np.clip(cos, -1.0, 1.0)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


class GenerationEval(L.Callback):
    """Lightning callback: at each validation, decode the first `per_task` validation examples of every task
    and log the task metrics next to the per-task losses (`val/{task}/{metric}`, no CIs). In a multi-process run
    every rank decodes its share (every world_size-th example) and the answers are gathered once, so every rank
    scores the same metrics and rank 0 logs them. FSDP, which shards the weights, is refused by the config."""

    def __init__(self, cfg, per_task: int):
        self.cfg, self.per_task, self.examples = cfg, per_task, None

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.datamodule is None:
            return
        if self.examples is None:
            val = trainer.datamodule.val_set.examples
            self.examples = [val[i] for i in first_per_task(val, self.per_task)]
        model = pl_module.model
        was_training = model.training
        model.eval()
        metrics = evaluate(model, self.cfg, self.examples, n_resamples=0, progress=False,
                           rank=trainer.global_rank, world_size=trainer.world_size)
        model.train(was_training)
        for task, res in metrics.items():
            for key, m in res.items():
                if isinstance(m, dict) and _finite(m.get("value")):
                    pl_module.log(f"val/{task}/{key}", float(m["value"]), batch_size=res["n"], rank_zero_only=True)


class GradientConflict(L.Callback):
    """Lightning callback: every `every_n_steps` optimizer steps (step 0 included), on one fixed probe batch,
    compute task_gradients on pl_module.model, log `probe/grad_cos/{a}/{b}` for each task pair a < b and append
    {"step", "tasks", "cosine", "norm"} to `<out_dir or trainer.log_dir>/grad_conflict.jsonl`.

    The probe batch is `batch` when given (moved to the module's device) or else the first training batch seen;
    that one mixes all tasks only if the sampler mixes them, so pass a batch with a few examples of every task
    when it matters (records list the tasks they cover). The probe runs before the optimizer step of that batch,
    in eval mode (no dropout, so successive probes measure the same function of the weights) under the trainer's
    precision context, on global rank 0 only; it never touches `.grad` or the weights. FSDP (sharded parameters)
    is not supported."""

    def __init__(self, every_n_steps: int = 100, batch: dict | None = None, out_dir: str | Path | None = None):
        if every_n_steps < 1:
            raise ValueError(f"GradientConflict: every_n_steps must be >= 1, got {every_n_steps!r}")
        self.every_n_steps, self.batch, self.out_dir = every_n_steps, batch, out_dir
        self._moved = False
        self._last_step = None
        self.path: Path | None = None  # the jsonl file, known once training starts

    def setup(self, trainer, pl_module, stage: str) -> None:
        if "fsdp" in type(trainer.strategy).__name__.lower():
            raise ValueError("GradientConflict does not support FSDP (parameters are sharded); "
                             "use ddp or a single device for gradient-conflict probes")
        # trainer.log_dir broadcasts across ranks, so read it here, where every rank runs
        self.path = Path(self.out_dir or trainer.log_dir or trainer.default_root_dir) / GRAD_CONFLICT_FILE

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step % self.every_n_steps or step == self._last_step:  # once per optimizer step
            return
        self._last_step = step
        if self.batch is None:
            self.batch, self._moved = batch, True
        if not trainer.is_global_zero:
            return
        if not self._moved:
            self.batch, self._moved = move_data_to_device(self.batch, pl_module.device), True
        model = pl_module.model
        was_training = model.training
        model.eval()
        try:
            with trainer.precision_plugin.forward_context():
                grads = task_gradients(model, self.batch)
        finally:
            model.train(was_training)
        names, cos = gradient_cosines(grads)
        norms = [float(torch.linalg.vector_norm(grads[t])) for t in names]
        del grads
        for i, a in enumerate(names):
            for j in range(i + 1, len(names)):
                pl_module.log(f"probe/grad_cos/{a}/{names[j]}", float(cos[i, j]), on_step=True,
                              on_epoch=False, batch_size=1, rank_zero_only=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"step": step, "tasks": names, "cosine": [[_json_float(x) for x in row] for row in cos],
                  "norm": norms}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


class ProgressLine(ProgressBar):
    """The run's progress bar (Lightning's ProgressBar slot, so no TQDMProgressBar is added): one line per run (label,
    step/total, loss, last validation loss, ETA), kept to terminal line `position` when several runs share one."""
    def __init__(self, label: str, position: int = 0):
        super().__init__()
        self.label, self.position, self.bar, self.val, self._enabled = label, position, None, None, True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def disable(self) -> None:  # Lightning's setup calls it on every rank but 0
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and self._enabled:
            self.bar = tqdm(total=trainer.max_steps, initial=trainer.global_step, desc=self.label, unit="step",
                            dynamic_ncols=True, mininterval=2.0, position=self.position)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.bar is None or trainer.global_step <= self.bar.n:
            return
        post = {"loss": f"{float(outputs['loss']):.3f}"} if isinstance(outputs, dict) and "loss" in outputs else {}
        if self.val is not None:
            post["val"] = f"{self.val:.3f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(trainer.global_step - self.bar.n)

    def on_validation_end(self, trainer, pl_module) -> None:
        v = trainer.callback_metrics.get("val/loss")
        self.val = float(v) if v is not None else self.val

    def on_train_end(self, trainer, pl_module) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class StopOnSignal(L.Callback):
    """SIGTERM (a scheduler's kill) or SIGINT (Ctrl-C) ends training at the end of the current step instead of losing
    it: the state there is saved to `checkpoint` (last.ckpt) and `signum` is set, so train() can raise
    TrainingStopped. Lightning alone would only stop at the end of the epoch (one epoch is the whole run here) and
    exit 0. A second Ctrl-C stops at once, saving nothing."""
    def __init__(self, checkpoint: Path):
        self.checkpoint, self.signum, self._previous = Path(checkpoint), None, None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit" and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame) -> None:
        self.signum = signal.SIGINT
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.signum is None and trainer.received_sigterm:
            self.signum = signal.SIGTERM
        if self.signum is not None:
            trainer.should_stop = True  # the fit loop ends after this step; train() saves it

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):  # SIGTERM during validation: Lightning raises; save before teardown
            self.signum = signal.SIGTERM
            trainer.save_checkpoint(self.checkpoint)


class StopOnNonFinite(L.Callback):
    """A training loss that turns NaN or Inf, or weights that do in an update, end the run with TrainingDiverged
    before ModelCheckpoint (which Lightning calls after every other callback) can save that state, and before train()
    saves last.ckpt: the checkpoints on disk stay the last good ones. Checked after every batch and decided alike on
    every rank (one all-reduce of the loss and a bad-weights flag). Lightning's EarlyStopping(check_finite=True)
    would only stop quietly at a validation, the bad state saved."""
    def __init__(self, lr: float):
        self.lr, self.step, self.last_finite = lr, 0, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.step = trainer.global_step  # the step this batch belongs to, as metrics.csv numbers it

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        loss = torch.zeros(()) if loss is None else loss.detach().float()  # None: every clip skipped, no step here
        weights = [p for p in pl_module.parameters() if p.requires_grad]
        # a NaN or Inf anywhere makes its tensor's sum non-finite: 2 ms a step for make demo's 5.2 M trained weights,
        # against 27-34 ms for an isfinite map per tensor (a sum that overflows fp32 is a run gone wrong as well)
        bad = ~torch.stack([p.detach().sum() for p in weights]).isfinite().all() if weights else torch.tensor(False)
        state = torch.stack([loss.to(pl_module.device), bad.to(pl_module.device).float()])
        if trainer.world_size > 1:
            state = trainer.strategy.reduce(state, reduce_op="mean")  # a NaN on any rank reaches every rank
        mean, bad = state.tolist()
        if math.isfinite(mean):
            self.last_finite = (self.step, mean)
            if not bad:
                return
        what = (f"the training loss is {mean} at step {self.step}" if not math.isfinite(mean) else
                f"the weights turned NaN or Inf in the update of step {self.step}")
        before = (f"last finite loss {self.last_finite[1]:.4g} at step {self.last_finite[0]}" if self.last_finite
                  else "no finite loss before it")
        raise TrainingDiverged(f"{what} ({before}); stopped without saving this state, so the checkpoints in "
                               f"{trainer.checkpoint_callback.dirpath} hold earlier steps. Try a lower trainer.lr "
                               f"(now {self.lr:g}), or check the training data (`qa-lab data check MANIFEST`)",
                               self.step, self.last_finite)
