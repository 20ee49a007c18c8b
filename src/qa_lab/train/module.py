"""The LightningModule: a thin shell over AudioLLM with one shared step for train, val and test."""

from __future__ import annotations

import math
from collections import defaultdict

import lightning as L
import torch

from qa_lab.config import TrainerConfig
from qa_lab.core.model import AudioLLM


def warmup_cosine(warmup: int, total: int, floor: float = 0.0, from_zero: bool = False):
    """The learning-rate schedule of every training in the kit (runs and parts), as a LambdaLR factor of the peak:
    linear warm-up over `warmup` steps, then cosine decay to `floor` at step `total`. Runs start the warm-up at
    peak / warmup (a warm-up from 0 wastes the first step) and keep a 10 % floor; the parts warm up from 0 and decay
    to 0 (`from_zero`, floor 0: transformers' get_cosine_schedule_with_warmup, whose numbers the cached parts were
    made with). Not transformers' own functions: neither starts a warm-up above 0."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + (0 if from_zero else 1)) / max(1, warmup)
        t = min((step - warmup) / max(1, total - warmup), 1.0)
        return floor + (1 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


class AudioLLMModule(L.LightningModule):
    """Logs `{stage}/loss` and `{stage}/{task}/loss`; optimises only parameters that require grad."""

    def __init__(self, model: AudioLLM, trainer_cfg: TrainerConfig, config_yaml: str = ""):
        super().__init__()
        self.model = model
        self.opt_cfg = trainer_cfg
        self.config_yaml = config_yaml  # stored in every checkpoint so `export`/`infer` can rebuild the model
        self.strict_loading = False  # checkpoints hold only trainable weights; the rest comes from the preset

    def step(self, batch: dict | None, stage: str) -> dict | None:
        """The model's outputs for `batch`. Training logs this process's token-mean loss, CTC loss and each task's
        loss every step; validation adds each task's summed token losses and token counts up, and logs them once at
        the end (on_validation_epoch_end), summed over every rank."""
        if batch is None:  # every clip of the batch was skipped under data.skip_invalid: no step
            return None
        out = self.model(batch)
        sums = defaultdict(lambda: torch.zeros(2, dtype=torch.float64))
        for task, s, n in zip(batch["tasks"], out["loss_sum"].detach(), out["n_tokens"]):
            sums[task] += torch.tensor([float(s), int(n)], dtype=torch.float64)
        if stage != "train":
            for task, v in sums.items():
                self._held_out[task] += v
            return out
        B = len(batch["tasks"])
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=B)
        if "ctc" in out:
            self.log("train/ctc", out["ctc"], batch_size=B)
        for task, (s, n) in sums.items():
            self.log(f"train/{task}/loss", float(s / max(n, 1)), batch_size=int(n))
        return out

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        out = self.step(batch, "train")
        return None if out is None else self.objective(out)

    def on_validation_epoch_start(self) -> None:
        self._held_out = defaultdict(lambda: torch.zeros(2, dtype=torch.float64))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        """val/loss and val/{task}/loss: summed token losses over target tokens of the whole validation set, every
        rank's share added up in one reduction (the ranks validate different batches)."""
        dm = self.trainer.datamodule
        tasks = sorted({ex["task"] for ex in dm.val_set.examples} if dm is not None else self._held_out)
        local = torch.stack([self._held_out[t] if t in self._held_out else torch.zeros(2, dtype=torch.float64)
                             for t in tasks]).to(self.device)
        total = self.trainer.strategy.reduce(local, reduce_op="sum") if self.trainer.world_size > 1 else local
        s, n = total.sum(0).tolist()
        self.log("val/loss", s / max(n, 1), prog_bar=True)
        for task, (s, n) in zip(tasks, total.tolist()):
            if n:
                self.log(f"val/{task}/loss", s / n)

    def objective(self, out: dict) -> torch.Tensor:
        """The loss the optimiser minimises, normalised as trainer.loss_normalization says (config/schema.py explains the
        choices). Lightning divides a micro-batch's loss by the accumulation count and DDP/FSDP average gradients
        over ranks: both are undone here, so the step's gradient is that of (the step's sum) / (the step's total)."""
        norm = self.opt_cfg.loss_normalization
        if norm == "batch":
            return out["loss"]
        t = self.trainer
        per = out["loss_sum"] / out["n_tokens"].clamp(min=1) if norm == "examples" else out["loss_sum"]
        total = t.datamodule.loss_denominator(self.global_step, norm)
        loss = per.sum() * (t.accumulate_grad_batches * t.world_size) / max(total, 1.0)
        if "ctc" in out:  # the auxiliary CTC loss stays a mean over the step's micro-batches and ranks
            loss = loss + self.model.ctc_weight * out["ctc"]
        return loss

    def configure_optimizers(self):
        """AdamW over the trainable weights (the audio tower's at trainer.encoder_lr when set). Weight decay applies
        to matrices only: biases, norms and the token embeddings are not pulled towards zero (as nanoGPT does).
        Without weight decay there is one group per learning rate, as before, so older checkpoints still resume."""
        c = self.opt_cfg
        tower = {id(p) for p in self.model.audio_tower.parameters()}
        embeddings = {id(self.model.language_model.get_input_embeddings().weight)}
        params = [p for p in self.parameters() if p.requires_grad]
        split = c.encoder_lr is not None and any(id(p) in tower for p in params)
        groups = []
        for lr, part in ((c.lr, [p for p in params if not split or id(p) not in tower]),
                         (c.encoder_lr, [p for p in params if split and id(p) in tower])):
            decay = [p for p in part if p.ndim >= 2 and id(p) not in embeddings or not c.weight_decay]
            rest = [p for p in part if (p.ndim < 2 or id(p) in embeddings) and c.weight_decay]
            groups += [{"params": g, "lr": lr, "weight_decay": wd}
                       for g, wd in ((decay, c.weight_decay), (rest, 0.0)) if g]
        opt = torch.optim.AdamW(groups, lr=c.lr, weight_decay=c.weight_decay)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(c.warmup_steps, c.steps, floor=0.1))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in trainable}
        checkpoint["qa_lab_config"] = self.config_yaml
