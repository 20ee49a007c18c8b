"""Training runs: build tokenizer + model for a config, make the run folder, drive Lightning's Trainer."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from qa_lab.config import Config, experiment_path, to_yaml
from qa_lab.data import AudioDataModule
from qa_lab.model import AudioLLM, build_model
from qa_lab.module import AudioLLMModule
from qa_lab.presets import PRESETS
from qa_lab.stages import apply_stage, count_parameters
from qa_lab.tokenizer import load_tokenizer, tiny_tokenizer

log = logging.getLogger(__name__)


def build_tokenizer(cfg: Config):
    """The LLM's tokenizer with tag tokens, or the tiny BPE when the preset has no LLM checkpoint."""
    name = cfg.model.language_model or PRESETS[cfg.model.preset].language_model
    if name is None:
        return tiny_tokenizer()
    return load_tokenizer(name, trust_remote_code=cfg.model.trust_remote_code)


def build(cfg: Config, tokenizer=None) -> AudioLLM:
    """Tokenizer + model for `cfg`, frozen and wrapped for its stage. Seeded: random inits repeat."""
    tokenizer = tokenizer or build_tokenizer(cfg)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, tokenizer)
    return apply_stage(model, cfg.stage, cfg.lora)


def resolve_precision(precision: str) -> str:
    if precision != "auto":
        return precision
    return "bf16-mixed" if torch.cuda.is_available() else "32-true"


def make_run_dir(cfg: Config, source_yaml: Path | None) -> Path:
    """runs/<name>/<timestamp>/ holding the resolved config and the original experiment yaml."""
    run = Path(cfg.runs_dir) / cfg.name / time.strftime("%Y%m%d-%H%M%S")
    while run.exists():  # two runs in the same second
        run = run.with_name(run.name + "-1")
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(to_yaml(cfg))
    if source_yaml is not None and source_yaml.is_file():
        shutil.copy(source_yaml, run / "experiment.yaml")
    return run


def trainer_for(cfg: Config, run_dir: Path, **overrides) -> L.Trainer:
    t = cfg.trainer
    strategy = t.strategy
    if strategy == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy
        strategy = FSDPStrategy(use_orig_params=True)  # LoRA: frozen and trainable params share flat buffers
    elif strategy == "deepspeed":
        strategy = "deepspeed_stage_2"
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="step{step}", auto_insert_metric_name=False,
                           every_n_train_steps=t.checkpoint_every_n_steps, save_last=True, save_top_k=-1)
    kwargs = dict(
        default_root_dir=run_dir, max_steps=t.max_steps, precision=resolve_precision(t.precision),
        strategy=strategy, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        accumulate_grad_batches=t.accumulate_grad_batches, gradient_clip_val=t.gradient_clip_val or None,
        val_check_interval=t.val_every_n_steps, check_val_every_n_epoch=None,
        log_every_n_steps=t.log_every_n_steps, use_distributed_sampler=False, callbacks=[ckpt],
        logger=[CSVLogger(run_dir, name="", version="logs"), TensorBoardLogger(run_dir, name="", version="tb")],
        num_sanity_val_steps=0, enable_model_summary=False,
    )
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def train(cfg: Config, resume: str | Path | None = None, source_yaml: Path | None = None,
          report_examples: int = 8, **trainer_overrides) -> tuple[Path, AudioLLMModule]:
    """Train `cfg`; returns the run folder and the trained module."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if source_yaml is None:
        try:
            source_yaml = experiment_path(cfg.name)
        except ValueError:
            source_yaml = None
    run_dir = make_run_dir(cfg, source_yaml)
    model = build(cfg)
    if cfg.init_from:
        from qa_lab.export import init_from
        loaded = init_from(model, cfg.init_from)
        print(f"[qa-lab] init_from {cfg.init_from}: {len(loaded)} weight tensors loaded")
    trainable, total = count_parameters(model)
    print(f"[qa-lab] run folder: {run_dir}")
    print(f"[qa-lab] stage {cfg.stage}: trainable parameters {trainable:,} / {total:,} "
          f"({100 * trainable / total:.2f} %)")
    model.tokenizer.save_pretrained(run_dir / "tokenizer")
    module = AudioLLMModule(model, cfg.trainer, to_yaml(cfg))
    data = AudioDataModule(cfg, model.tokenizer)
    trainer = trainer_for(cfg, run_dir, **trainer_overrides)
    before = None if resume else _val_loss(trainer, module, data)
    trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None)
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")  # the final state, whatever the save interval
    if report_examples and trainer.is_global_zero:
        report(cfg, run_dir, module, data, before, _val_loss(trainer, module, data), report_examples)
    return run_dir, module


def _val_loss(trainer: L.Trainer, module: AudioLLMModule, data: AudioDataModule) -> float:
    return float(trainer.validate(module, datamodule=data, verbose=False)[0]["val/loss"])


def report(cfg: Config, run_dir: Path, module: AudioLLMModule, data: AudioDataModule,
           loss_before: float | None, loss_after: float | None, n_examples: int = 8) -> dict:
    """Decode held-out examples, write results.json and loss.png into the run folder, print a summary."""
    import json

    from qa_lab.infer import format_words, run
    from qa_lab.tasks import target
    from qa_lab.plots import plot_losses

    model = module.model.eval()
    examples = [dict(ex) for ex in data.val_set.examples[:n_examples]]
    hyps = run(model, cfg, examples)
    rows = [{"task": ex["task"], "audio": ex["audio"], "reference": target(ex), "hypothesis": h}
            for ex, h in zip(examples, hyps)]
    results = {"experiment": cfg.name, "stage": cfg.stage, "max_steps": cfg.trainer.max_steps,
               "val_loss_before": loss_before, "val_loss_after": loss_after, "examples": rows}
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    fig = plot_losses(run_dir)
    fig.savefig(run_dir / "loss.png", dpi=120)
    fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    print(f"\n[qa-lab] val loss before training {fmt(loss_before)} -> after {fmt(loss_after)}")
    for r in rows:
        print(f"\n  [{r['task']}] ref: {r['reference']}")
        hyp = format_words(r["hypothesis"]).replace("\n", "\n       ") if r["task"] == "srwt" else r["hypothesis"]
        print(f"  [{r['task']}] hyp: {hyp}")
    print(f"\n[qa-lab] results: {run_dir / 'results.json'}, plot: {run_dir / 'loss.png'}")
    return results
