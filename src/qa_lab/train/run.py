"""The training recipe: train() reads top to bottom (parts, model, data, checks, run folder, Trainer, fit, the final
checkpoint, a report) over its components: run folders (train.folders), the Trainer and its callbacks (train.trainer,
train.callbacks), the module (train.module)."""

from __future__ import annotations

import copy
import json
import signal
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from qa_lab.config import Config, check_resume, to_yaml
from qa_lab.core.build import build_model
from qa_lab.core.checkpoint import resume_point
from qa_lab.core.features import FeatureStore, autocast_dtype
from qa_lab.core.model import AudioLLM
from qa_lab.core.stages import count_parameters, tower_trains
from qa_lab.data.dataset import AudioDataModule, Collator
from qa_lab.data.manifest import first_per_task
from qa_lab.errors import TrainingStopped
from qa_lab.eval.decode import format_words, run
from qa_lab.example import Example
from qa_lab.prompts.tasks import target
from qa_lab.train.callbacks import GradientConflict, StopOnSignal
from qa_lab.train.folders import experiment_source, first_process, kept_logs, make_run_dir, resume_home
from qa_lab.train.curves import plot_losses
from qa_lab.train.memory import check_training_fits
from qa_lab.train.module import AudioLLMModule
from qa_lab.train.parts import PartsSpec, parts_hash, pretrain_parts
from qa_lab.train.trainer import check_strategy, resolve_precision, trainer_for
from qa_lab.world import builder as world_builder



def ensure_parts(cfg: Config) -> Path:
    """Make (or find cached) the kit-made pretrained encoder and LLM for cfg's preset (cfg.parts)."""
    return pretrain_parts(PartsSpec.of(cfg.model.preset, cfg.parts), cfg.parts.out)


def with_parts(cfg: Config) -> tuple[Config, dict | None]:
    """cfg starting from its pretrained parts when cfg.parts.enabled -> (cfg, record). A part the config names
    itself (model.audio_encoder, e.g. a real Whisper; model.language_model) is kept; parts fill in the others."""
    if not cfg.parts.enabled or (cfg.model.audio_encoder and cfg.model.language_model):
        return cfg, None
    if cfg.parts.enabled and cfg.parts.encoder_from and cfg.model.audio_encoder:
        raise ValueError(f"parts.encoder_from={cfg.parts.encoder_from} adapts a Whisper for the run, but "
                         f"model.audio_encoder={cfg.model.audio_encoder} names another; leave model.audio_encoder unset")
    path = ensure_parts(cfg).resolve()
    cfg = copy.deepcopy(cfg)
    if not cfg.model.audio_encoder:
        if not (path / "encoder").is_dir():
            raise ValueError(f"{path}: these parts have no encoder (parts.encoder_steps=0); name one in "
                             "model.audio_encoder (e.g. packaged:tiny.en)")
        cfg.model.audio_encoder = str(path / "encoder")
    cfg.model.language_model = cfg.model.language_model or str(path / "llm")
    return cfg, {"parts": str(path), "sha256": parts_hash(path)}


def feature_cache(cfg: Config, model: AudioLLM):
    """examples -> FeatureStore holding their frozen-tower features (or the frozen bottom's output, when only the top
    layers train) when data.cache_features is on; else None (the encoder runs every step)."""
    if not cfg.data.cache_features or tower_trains(model):
        return None
    dtype = autocast_dtype(resolve_precision(cfg.trainer.precision))  # encoded as the training step would
    store = FeatureStore.for_model(model, cfg.data.features_dir, dtype)

    def features(examples: list[Example]) -> FeatureStore:
        store.ensure(model, examples, skip_invalid=cfg.data.skip_invalid)
        return store
    return features


def probe_batch(data: AudioDataModule, per_task: int = 2) -> dict:
    """A fixed training batch with `per_task` examples of every task (for gradient-conflict probes)."""
    data.setup()
    idx = first_per_task(data.train_set.examples, per_task)
    collate = Collator(data.tokenizer, data.cfg.model.pool_stride, train=True, markers=data.front.markers)
    return collate([data.train_set[i] for i in idx])


def train(cfg: Config, resume: str | Path | None = None, source_yaml: Path | None = None,
          report_examples: int = 8, run_dir: str | Path | None = None, label: str | None = None,
          verbose: bool = True, progress_line: int = 0, callbacks: list | None = None,
          **trainer_overrides) -> tuple[Path, AudioLLMModule]:
    """Train `cfg` (into `run_dir`, default a new runs/<name>/<time>/); returns the run folder and the module.

    `resume` (a checkpoint or a run folder) continues in that checkpoint's run folder, from the newest readable
    checkpoint there, with a config that may differ only in RESUME_MAY_CHANGE keys. The config, the checkpoint and
    the manifests are all checked before the run folder is made, so a bad input leaves no folder behind. SIGTERM or
    SIGINT saves the step reached and raises TrainingStopped. `label` names the run on its progress line;
    verbose=False prints nothing but that line (the ablation runner); `progress_line` is the terminal line it keeps to
    (0, 1, ... when several runs share a terminal); `callbacks` are Lightning callbacks added to the kit's."""
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if source_yaml is None:
        source_yaml = experiment_source(cfg.name)
    stored = None
    if resume is not None:
        resume, stored = resume_point(resume)
        run_dir = resume_home(resume, run_dir)
    cfg, parts = with_parts(cfg)  # the saved config names the parts, so checkpoints rebuild on them
    if resume is not None:
        check_resume(cfg, stored, resume)
    model = build_model(cfg)
    data = AudioDataModule(cfg, model.tokenizer, feature_cache(cfg, model), front=model.front,
                           context=getattr(model.language_model.config, "max_position_embeddings", None),
                           world=world_builder.build_for)
    data.setup()  # reads and checks the manifests (and caches features) before any folder exists
    check_strategy(cfg)
    on_gpu = torch.cuda.is_available() and cfg.trainer.accelerator != "cpu"
    check_training_fits(model, cfg.data.batch_seconds, "cuda" if on_gpu else "cpu")  # said now, not killed later
    run_dir = make_run_dir(cfg, source_yaml, run_dir)
    first = first_process()  # the other ranks of a multi-process run write nothing but what Lightning writes
    if first:
        write_run_inputs(run_dir, model, parts)
        if verbose:
            announce(cfg, run_dir, model, parts, resume)
    module = AudioLLMModule(model, cfg.trainer, to_yaml(cfg))
    extra = list(callbacks or [])
    if cfg.trainer.grad_conflict_every_n_steps:
        extra.append(GradientConflict(cfg.trainer.grad_conflict_every_n_steps, batch=probe_batch(data), out_dir=run_dir))
    trainer = trainer_for(cfg, run_dir, extra, label=label, progress_line=progress_line, model=model,
                          **trainer_overrides)
    stop = next(c for c in trainer.callbacks if isinstance(c, StopOnSignal))
    last = run_dir / "checkpoints" / "last.ckpt"
    try:
        with kept_logs(run_dir, resuming=resume is not None, writes=first):
            before = None if resume else _val_loss(trainer, module, data)
            trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None)
    except SIGTERMException:  # during validation; StopOnSignal saved the step
        raise TrainingStopped(signal.SIGTERM, trainer.global_step, last) from None
    trainer.save_checkpoint(last)  # the final state, whatever the save interval
    if stop.signum is not None:
        raise TrainingStopped(stop.signum, trainer.global_step, last)
    if report_examples:
        after = _val_loss(trainer, module, data)  # on every rank: validation is collective
        if trainer.is_global_zero:
            report(cfg, run_dir, module, data, before, after, report_examples)
    return run_dir, module


def write_run_inputs(run_dir: Path, model: AudioLLM, parts: dict | None) -> None:
    """What the run folder keeps besides config and checkpoints: the tokenizer, and which pretrained parts it used."""
    if parts:
        (run_dir / "parts.json").write_text(json.dumps(parts, indent=1) + "\n")
    model.tokenizer.save_pretrained(run_dir / "tokenizer")


def announce(cfg: Config, run_dir: Path, model: AudioLLM, parts: dict | None, resume: Path | None) -> None:
    """The lines a run prints before its progress line: where it starts from, its folder, what trains."""
    if parts:
        print(f"[qa-lab] starting from pretrained parts {parts['parts']} (sha256 {parts['sha256'][:12]})")
    if cfg.init_from:
        print(f"[qa-lab] starting from the weights of {cfg.init_from}")
    print(f"[qa-lab] run folder: {run_dir}" + (f" (resuming from {resume.name})" if resume else ""))
    trainable, total = count_parameters(model)
    print(f"[qa-lab] stage {cfg.stage}: trainable parameters {trainable:,} / {total:,} ({100 * trainable / total:.2f} %)")


def _val_loss(trainer: L.Trainer, module: AudioLLMModule, data: AudioDataModule) -> float:
    return float(trainer.validate(module, datamodule=data, verbose=False)[0]["val/loss"])


def report(cfg: Config, run_dir: Path, module: AudioLLMModule, data: AudioDataModule,
           loss_before: float | None, loss_after: float | None, n_examples: int = 8) -> dict:
    """Decode held-out examples, write results.json and loss.png into the run folder, print a summary."""
    model = module.model.eval()
    examples = [dict(ex) for ex in data.val_set.examples[:n_examples]]
    hyps = run(model, cfg, examples)
    rows = [{"task": ex["task"], "audio": ex.get("audio") or ex.get("_audio_paths"), "reference": target(ex), "hypothesis": h}
            for ex, h in zip(examples, hyps)]
    results = {"experiment": cfg.name, "stage": cfg.stage, "max_steps": cfg.trainer.steps,
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
