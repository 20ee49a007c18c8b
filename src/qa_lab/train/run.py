"""Training runs: build tokenizer + model for a config, make the run folder, drive Lightning's Trainer."""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from qa_lab.config import EXPERIMENTS_DIR, Config, check_resume, experiment_path, to_yaml
from qa_lab.core.build import build_model, build_tokenizer
from qa_lab.core.checkpoint import AtomicCheckpointIO, resume_point
from qa_lab.core.features import FeatureStore, autocast_dtype
from qa_lab.core.model import AudioLLM
from qa_lab.core.stages import count_parameters, tower_trains
from qa_lab.data.dataset import AudioDataModule, Collator
from qa_lab.data.manifest import first_per_task
from qa_lab.errors import CannotWrite, TrainingDiverged, TrainingStopped
from qa_lab.eval.decode import format_words, run
from qa_lab.prompts.tasks import target
from qa_lab.train.callbacks import GenerationEval, GradientConflict
from qa_lab.train.curves import plot_losses
from qa_lab.train.memory import HandBackFreedMemory, check_training_fits
from qa_lab.train.module import AudioLLMModule
from qa_lab.train.parts import PartsSpec, parts_hash, pretrain_parts
from qa_lab.world import builder as world_builder

log = logging.getLogger(__name__)


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
    import copy

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

    def features(examples: list[dict]) -> FeatureStore:
        store.ensure(model, examples, skip_invalid=cfg.data.skip_invalid)
        return store
    return features


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


RUN_DIR_ENV = "QA_LAB_RUN_DIR"  # the run folder rank 0 made, for the ranks Lightning's DDP launcher starts after it


def first_process() -> bool:
    """Whether this process is global rank 0 (or alone), before a Trainer exists: from the variables a launcher sets
    (torchrun's RANK, SLURM's SLURM_PROCID, Lightning's NODE_RANK and LOCAL_RANK for the ranks it starts)."""
    for key in ("RANK", "SLURM_PROCID"):
        if key in os.environ:
            return os.environ[key] == "0"
    return os.environ.get("NODE_RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"


def launched_run_dir(cfg: Config) -> Path | None:
    """The one run folder of ranks that a launcher started itself (torchrun sets WORLD_SIZE; SLURM's srun sets
    SLURM_NTASKS): QA_LAB_RUN_DIR when set, else runs/<name>/<the launch's id>, which every rank names alike
    (torchrun-<rendezvous id>, slurm-<job id>.<step id>). None outside such a launch, or when it has no shared id
    (torchrun without --standalone or --rdzv-id)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return None
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    rdzv = os.environ.get("TORCHELASTIC_RUN_ID", "none")
    if rdzv != "none":
        return Path(cfg.runs_dir) / cfg.name / f"torchrun-{rdzv}"
    if os.environ.get("SLURM_JOB_ID"):
        step = os.environ.get("SLURM_STEP_ID")
        return Path(cfg.runs_dir) / cfg.name / (f"slurm-{os.environ['SLURM_JOB_ID']}" + (f".{step}" if step else ""))
    return None


def make_run_dir(cfg: Config, source_yaml: Path | None, run_dir: Path | None = None) -> Path:
    """runs/<name>/<timestamp>/ (or `run_dir`) holding the resolved config and the original experiment yaml.

    In a multi-process run only rank 0 makes and writes it, and every rank logs and checkpoints into that one folder:
    the ranks Lightning's launcher starts later (trainer.devices > 1) find it in QA_LAB_RUN_DIR, which rank 0 sets;
    ranks that torchrun or SLURM started name it alike (launched_run_dir)."""
    run_dir = run_dir or launched_run_dir(cfg)
    if not first_process():
        if run_dir is None and not os.environ.get(RUN_DIR_ENV):
            raise RuntimeError(f"{RUN_DIR_ENV} is not set in this rank, so it cannot find the run folder rank 0 "
                               "made: start multi-process runs with Lightning's own launcher (trainer.devices=N on "
                               "one machine), torchrun --standalone (or --rdzv-id) or SLURM's srun, or set it to one "
                               "folder for every rank yourself")
        return Path(run_dir or os.environ[RUN_DIR_ENV])
    if run_dir is not None:
        run = Path(run_dir)
        run.mkdir(parents=True, exist_ok=True)
    else:
        stamp = Path(cfg.runs_dir) / cfg.name / time.strftime("%Y%m%d-%H%M%S")
        stamp.parent.mkdir(parents=True, exist_ok=True)
        run, k = stamp, 1
        while True:  # runs started in the same second take -1, -2 ...: mkdir claims a name atomically
            try:
                run.mkdir()
                break
            except FileExistsError:
                run, k = stamp.with_name(f"{stamp.name}-{k}"), k + 1
    (run / "config.yaml").write_text(to_yaml(cfg))
    if source_yaml is not None and source_yaml.is_file():
        shutil.copy(source_yaml, run / "experiment.yaml")
    os.environ[RUN_DIR_ENV] = str(run.resolve())
    return run


def probe_batch(data: AudioDataModule, per_task: int = 2) -> dict:
    """A fixed training batch with `per_task` examples of every task (for gradient-conflict probes)."""
    data.setup()
    idx = first_per_task(data.train_set.examples, per_task)
    collate = Collator(data.tokenizer, data.cfg.model.pool_stride, train=True, markers=data.front.markers)
    return collate([data.train_set[i] for i in idx])


class ProgressLine(L.Callback):
    """One progress line per run (label, step/total, loss, last validation loss, ETA) instead of Lightning's bars."""
    def __init__(self, label: str, position: int = 0):
        self.label, self.position, self.bar, self.val = label, position, None, None

    def on_train_start(self, trainer, pl_module) -> None:
        from tqdm import tqdm
        if trainer.is_global_zero:
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
        from lightning.pytorch.utilities.exceptions import SIGTERMException
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
        from lightning.pytorch.strategies import FSDPStrategy
        strategy = FSDPStrategy(use_orig_params=True,  # LoRA: frozen and trainable params share flat buffers
                                auto_wrap_policy=fsdp_layer_classes(model) if model is not None else None)
    elif strategy == "deepspeed":
        strategy = "deepspeed_stage_2"
    ckpt = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="step{step}", auto_insert_metric_name=False,
                           every_n_train_steps=t.checkpoint_every_n_steps, save_last=True, save_top_k=-1)
    callbacks = [ckpt, ProgressLine(label or cfg.name, progress_line),
                 StopOnSignal(run_dir / "checkpoints" / "last.ckpt"), StopOnNonFinite(t.lr), HandBackFreedMemory(),
                 *(extra_callbacks or [])]
    if t.val_decode_per_task:
        callbacks.append(GenerationEval(cfg, t.val_decode_per_task))
    kwargs = dict(
        default_root_dir=run_dir, max_steps=t.max_steps, precision=resolve_precision(t.precision),
        strategy=strategy, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
        accumulate_grad_batches=t.accumulate_grad_batches, gradient_clip_val=t.gradient_clip_val or None,
        val_check_interval=t.val_every_n_steps * t.accumulate_grad_batches, check_val_every_n_epoch=None,  # batches
        log_every_n_steps=t.log_every_n_steps, use_distributed_sampler=False, callbacks=callbacks,
        logger=[CSVLogger(run_dir, name="", version="logs"), TensorBoardLogger(run_dir, name="", version="tb")],
        num_sanity_val_steps=0, enable_model_summary=False, enable_progress_bar=False,
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
        import importlib.util
        if importlib.util.find_spec("deepspeed") is None:
            raise ValueError("trainer.strategy=deepspeed needs the deepspeed package: pip install -e '.[deepspeed]'")


def experiment_source(name: str) -> Path | None:
    """The experiment yaml a config named `name` was loaded from, for a run started from the Python API (the CLI
    passes its path): 'demo' -> experiments/demo.yaml, 'chat' -> experiments/chat/chat.yaml (a name that is one
    nested file's stem); None when no single yaml has that name."""
    try:
        return experiment_path(name)
    except ValueError:
        nested = sorted(EXPERIMENTS_DIR.rglob(f"{name}.yaml"))
        return nested[0] if len(nested) == 1 else None


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
        home = resume.parent.parent
        if run_dir is None and resume.parent.name == "checkpoints" and (home / "config.yaml").is_file():
            run_dir = home  # continue in the same run folder; both attempts' logs are kept
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
    verbose = verbose and first
    if parts and first:
        import json
        (run_dir / "parts.json").write_text(json.dumps(parts, indent=1) + "\n")
        if verbose:
            print(f"[qa-lab] starting from pretrained parts {parts['parts']} (sha256 {parts['sha256'][:12]})")
    trainable, total = count_parameters(model)
    if verbose:
        if cfg.init_from:
            print(f"[qa-lab] starting from the weights of {cfg.init_from}")
        print(f"[qa-lab] run folder: {run_dir}" + (f" (resuming from {resume.name})" if resume else ""))
        print(f"[qa-lab] stage {cfg.stage}: trainable parameters {trainable:,} / {total:,} "
              f"({100 * trainable / total:.2f} %)")
    if first:
        model.tokenizer.save_pretrained(run_dir / "tokenizer")
    module = AudioLLMModule(model, cfg.trainer, to_yaml(cfg))
    extra = list(callbacks or [])
    if cfg.trainer.grad_conflict_every_n_steps:
        extra.append(GradientConflict(cfg.trainer.grad_conflict_every_n_steps, batch=probe_batch(data), out_dir=run_dir))
    trainer = trainer_for(cfg, run_dir, extra, label=label, progress_line=progress_line, model=model,
                          **trainer_overrides)
    stop = next(c for c in trainer.callbacks if isinstance(c, StopOnSignal))
    last = run_dir / "checkpoints" / "last.ckpt"
    metrics = run_dir / "logs" / "metrics.csv"
    earlier = None
    if first and resume is not None and metrics.is_file():  # Lightning's CSV logger would rewrite it: keep, merge
        earlier = metrics.with_name(f"metrics.before-resume-{time.strftime('%Y%m%d-%H%M%S')}.csv")
        metrics.rename(earlier)
    from lightning.pytorch.utilities.exceptions import SIGTERMException
    failed = True
    try:
        before = None if resume else _val_loss(trainer, module, data)
        trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None)
        failed = False
    except SIGTERMException:  # during validation; StopOnSignal saved the step
        raise TrainingStopped(signal.SIGTERM, trainer.global_step, last) from None
    finally:
        if earlier is not None:
            try:
                merge_logs(earlier, metrics)
            except OSError as e:
                if not failed:
                    raise CannotWrite(metrics, e, f"the first attempt's rows are kept in {earlier}") from e
                # the error that stopped training is the one to see (a folder turned read-only fails both)
                log.warning("could not merge %s into %s (%s); the first attempt's rows are kept there", earlier,
                            metrics.name, e.strerror)
    trainer.save_checkpoint(last)  # the final state, whatever the save interval
    if stop.signum is not None:
        raise TrainingStopped(stop.signum, trainer.global_step, last)
    if report_examples:
        after = _val_loss(trainer, module, data)  # on every rank: validation is collective
        if trainer.is_global_zero:
            report(cfg, run_dir, module, data, before, after, report_examples)
    return run_dir, module


def merge_logs(earlier: Path, metrics: Path) -> None:
    """metrics.csv after a resume = the earlier attempt's rows before the first step the resumed attempt logged, then
    the resumed attempt's rows (columns united); written atomically. `earlier` stays as the first attempt's record."""
    import csv
    read = lambda p: list(csv.DictReader(p.open(newline=""))) if p.is_file() else []  # noqa: E731
    new = read(metrics)
    first = min((int(r["step"]) for r in new), default=None)
    rows = [r for r in read(earlier) if first is None or int(r["step"]) < first] + new
    columns = list(dict.fromkeys(k for r in rows for k in r))
    tmp = metrics.with_name(f".{metrics.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, metrics)


def _val_loss(trainer: L.Trainer, module: AudioLLMModule, data: AudioDataModule) -> float:
    return float(trainer.validate(module, datamodule=data, verbose=False)[0]["val/loss"])


def report(cfg: Config, run_dir: Path, module: AudioLLMModule, data: AudioDataModule,
           loss_before: float | None, loss_after: float | None, n_examples: int = 8) -> dict:
    """Decode held-out examples, write results.json and loss.png into the run folder, print a summary."""
    import json

    model = module.model.eval()
    examples = [dict(ex) for ex in data.val_set.examples[:n_examples]]
    hyps = run(model, cfg, examples)
    rows = [{"task": ex["task"], "audio": ex.get("audio") or ex.get("_audio_paths"), "reference": target(ex), "hypothesis": h}
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
