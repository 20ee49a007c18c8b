"""The config schema: one dataclass per section (model, lora, tags, world, data, parts, trainer, decode), each
checking its own values, and the constants they allow. Loading and merging the yamls is qa_lab.config.loader."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from qa_lab.presets import PRESETS, qwen2_audio_source
from qa_lab.prompts.tags import FORMATS


STAGES = ("pretrain", "sft", "finetune", "full")
TAG_FORMATS = FORMATS
AUDIO_PADDING = ("real", "pad30")
AUDIO_POSITIONS = ("sequential", "time")
PROJECTORS = ("linear", "mlp", "tokens")
STRATEGIES = ("auto", "ddp", "fsdp", "deepspeed")
LOSS_NORMALIZATIONS = ("tokens", "examples", "step_tokens", "batch")
PARTS = ("audio_tower", "projector", "language_model")
DECODE_TIMES = ("lm", "ctc")


class ConfigError(ValueError):
    """A config problem; the message names the file and key at fault."""


def _check(value: Any, allowed: tuple, key: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}={value!r}: expected one of {', '.join(map(str, allowed))}")


def _at_least_one(value: int, key: str) -> None:
    if value < 1:
        raise ConfigError(f"{key}={value}: expected >= 1")


@dataclass
class ModelConfig:
    preset: str = "tiny"
    """Architecture and checkpoints: tiny | mini | qwen-audio-7b | whisper-large-v2+qwen2.5-7b | qwen2-audio-7b |
    qwen2-audio-7b-instruct (see qa_lab.presets)."""
    qwen2_audio: str | None = None
    """A Qwen2AudioForConditionalGeneration checkpoint (hub id or local folder) to start from instead of the preset's
    parts: its audio tower, projector, LLM and tokenizer (qa_lab.core.qwen2_audio). Needs tags.format=qwen2-audio
    (plain instructions, the base model) or qwen2-audio-chat (ChatML, the instruct model)."""
    audio_encoder: str | None = None
    """Override the preset's Whisper checkpoint: a hub id or a local save_pretrained folder."""
    language_model: str | None = None
    """Override the preset's LLM checkpoint: a hub id or a local save_pretrained folder."""
    trust_remote_code: bool = False
    """Allow remote modelling code (needed by Qwen/Qwen-7B); off unless a config opts in."""
    audio_padding: str = "real"
    """real: encode at each clip's own length (fast). pad30: every clip in a 30 s window, as the tower's checkpoint
    was trained: stock Whisper attends to the padding (unmasked); a Qwen2-Audio tower masks the padded keys, as
    transformers' Qwen2-Audio does. A Qwen2-Audio tower at real length gives the 30 s window's features to float
    rounding (its convolutions read the feature extractor's padding just past the clip; docs/finetune-qwen2-audio.md)."""
    projector: str = "linear"
    """Audio-to-LLM projector: linear | mlp (Linear-GELU-Linear) | tokens (each frame enters as the softmax-weighted
    mix of the LLM's token embeddings it scores highest, plus a zero-initialised linear residual for what no token
    spells; train it with the auxiliary CTC at the input, `ctc_layer: 0`: qa_lab.core.model.TokenProjector)."""
    audio_norm: bool = False
    """RMS-normalise the projector's output, its gain started at the mean norm of the LLM's token embeddings, so audio
    frames enter the LLM at the scale of the text around them. Off = the paper's plain projector, whose frames can be
    tens of times the text's norm (77 vs 1 on tiny-cpu) and so pass the LLM's layers almost unchanged; on tiny-cpu
    that is what lets the auxiliary CTC learn: with the norm on, the frames' CTC WER stayed at 96 % (measured in
    experiments/results/listen-diagnosis, section 6)."""
    pool_stride: int = 2
    """Average pooling after the encoder: 2 gives one audio frame per 40 ms (25/s), as in the paper."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass to save memory."""
    ctc_weight: float = 0.0
    """Weight of an auxiliary CTC loss in training: the LLM's outputs at the audio frames spell the transcript
    (clips that have one). 0 = off, as in the paper; the CPU scales use it so a small LLM learns to listen. It needs
    the logits at every audio frame (frames x vocab): cheap for the tiny vocabulary, heavy for a 152k-token LLM."""
    ctc_sounds: bool = True
    """The auxiliary CTC also spells the names of a clip's sound events, in time order with its words
    (qa_lab.prompts.tasks.heard); false: words only, as before 2026-12-05. Measured on the chat stage at tiny-cpu,
    held-out event accuracy over two seeds: 56 and 14 % with it, 18 and 22 % without. No gain is shown at that scale
    (experiments/results/chat-tiny-cpu)."""
    ctc_layer: int | None = None
    """Which LLM layer the auxiliary CTC reads (1-based; its output through the final norm and the LM head); None =
    the last. A middle layer leaves the layers above it free to copy the spelled-out audio into the answer. 0 = the
    audio embeddings at the LLM's input, scored against its input embedding table: the frames then look like the
    tokens they spell (with `projector: tokens`, exactly those tokens' embeddings)."""
    freeze: list[str] = field(default_factory=list)
    """Parts kept frozen whatever the stage trains: audio_tower | projector | language_model."""
    frame_times: bool = False
    """Add to each audio frame the embedding of the time token at its start, scaled to the frame's own norm, and start
    the time tokens' embeddings (input and LM head) from sinusoidal codes of their time (nearby times alike): an SRWT
    or grounding answer can then find the frame of a time it writes, and write the time of a frame it finds. Off = the
    paper's model. On tiny-cpu it makes the transcript answers use the audio (answer loss with another clip's audio
    0.2-0.4 nats worse instead of 0.01-0.15) but moves the demo's metrics only within one seed's noise
    (experiments/results/listen-diagnosis, section 6)."""
    clip_codes: bool = False
    """Add to each audio frame the input embedding of its clip's number in its row ("1" for the first clip, "2" for
    the second: the token an answer such as "audio 2" writes), scaled to the frame's own norm. Off = the paper's model,
    which tells clips apart by their "Audio k:" labels alone. Frames that enter at tens of times the text's norm pass
    the LLM's layers almost unchanged, so no layer can write their clip's number into them; with the code, an answer
    that attends to a sound's frames could read which clip they belong to. Measured on tiny-cpu, 1500 chat-stage
    steps: chat_compare stayed a constant answer, and held-out event accuracy was 18 % (56 and 14 % over two seeds
    without the codes) (experiments/results/chat-tiny-cpu)."""
    time_sigma: float = 0.0
    """Time tokens as ordered classes: a time-token target is trained as a Gaussian over the time tokens around it
    (standard deviation in seconds; the loss is its KL divergence from the LM head's distribution, so a near miss
    costs less than a far one and every neighbour's row learns from each target). 0 = plain cross-entropy, the
    paper's recipe. The per-task losses of timed answers are then KL divergences (0 at a perfect match), not
    cross-entropies."""
    audio_positions: str = "sequential"
    """Position ids (RoPE) of the audio frames and what follows them. sequential: one position per token, as the paper's
    model and Qwen2-Audio count. time: a clip's frame k sits at the clip's start + k and the token after its last frame
    at the start + the frames of a full 30 s clip, whatever the clip's length, so the distance from an answer token to
    a frame says that frame's time (Qwen2.5-Omni's TMRoPE puts audio positions on a time axis for the same reason). A
    lever for the LLM's own time tokens: an answer that has just written a time can then ask for the frames at that
    time by position. Measured on tiny-cpu over three seeds (experiments/results/time-tokens, section 4): grounding
    IoU 8.2 -> 11.4 %, only up to answering with the whole clip, and the time no more in the hidden state; off in
    every recipe."""
    time_pointer: bool = False
    """Time tokens that point at frames: each time token's logit is raised by a learned bilinear match between the
    answer's hidden state (what the LM head reads) and the LLM's own top-layer state at the audio frame of that time
    (0.01 s time tokens, so each frame covers frame-seconds x 100 of them), a copy head in the LLM's output layer. The
    answer is still the LLM's own greedy or beam-search output, trained by its cross-entropy alone; no aligner or CTC
    read-out decides a time. Zero at the start (the plain LM head). Off = the paper's model, whose 3001 time tokens
    are rows of the LM head like any word's. A lever for grounding: the frames' top-layer states already spell their
    words (the CTC loss), so an answer that knows the queried word can find its frames by content. Measured on
    tiny-cpu, one seed, 1000 steps (experiments/results/time-tokens, section 7): teacher-forced, the pointer picks the
    target's own frame for 55 % of SRWT's time tokens (0.32 s off against the head alone's 1.08 s), but the decoded
    answers' grounding IoU stays near the whole-clip answer (13.4 %); off in every recipe."""
    train_encoder_layers: int = 0
    """Top audio-tower layers (with its final norm) that train even when audio_tower is frozen (model.freeze, stage
    sft). The frozen layers below run once per clip and their output is cached (qa_lab.core.features), so a step runs
    only these: adapting the top of a frozen Whisper to new voices at a fraction of a full tower's cost."""

    def __post_init__(self) -> None:
        for part in self.freeze:
            _check(part, PARTS, "model.freeze")
        _check(self.preset, tuple(PRESETS), "model.preset")
        _check(self.audio_padding, AUDIO_PADDING, "model.audio_padding")
        _check(self.audio_positions, AUDIO_POSITIONS, "model.audio_positions")
        _check(self.projector, PROJECTORS, "model.projector")
        _at_least_one(self.pool_stride, "model.pool_stride")
        if self.ctc_weight < 0:
            raise ConfigError(f"model.ctc_weight={self.ctc_weight}: expected >= 0")
        if self.time_sigma < 0:
            raise ConfigError(f"model.time_sigma={self.time_sigma}: expected a standard deviation >= 0 (seconds)")
        if self.train_encoder_layers < 0:
            raise ConfigError(f"model.train_encoder_layers={self.train_encoder_layers}: expected >= 0")
        if self.ctc_layer is not None and self.ctc_layer < 0:
            raise ConfigError(f"model.ctc_layer={self.ctc_layer}: expected a layer number >= 1, 0 (the LLM's input) "
                              "or null (the last)")
        if self.projector == "tokens" and self.ctc_layer != 0:
            raise ConfigError("model.projector=tokens needs model.ctc_layer=0: the CTC at the LLM's input is what "
                              "teaches each frame its token")


@dataclass
class LoraConfig:
    r: int = 8
    """LoRA rank."""
    alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    dropout: float = 0.05
    """Dropout on the LoRA path."""
    target_modules: list[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    """LLM module names that get LoRA (default: all attention and MLP projections)."""
    encoder: bool = False
    """Also put LoRA on the audio encoder (finetune stage)."""
    encoder_target_modules: list[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"])
    """Whisper module names that get LoRA when lora.encoder is true."""

    def __post_init__(self) -> None:
        _at_least_one(self.r, "lora.r")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout={self.dropout}: expected 0 <= dropout < 1")


@dataclass
class TagsConfig:
    format: str = "hierarchical"
    """Task prompt format: hierarchical (Qwen-Audio tags) | flat (one token per task) | natural | qwen2-audio
    (Qwen2-Audio's instructions and audio markers, plain text: what the base Qwen2-Audio checkpoint reads) |
    qwen2-audio-chat (the same inside one ChatML user turn, answers ending with <|im_end|>: the instruct checkpoint)."""
    srwt_spaces: bool = False
    """SRWT answers write a space before each word: '<|0.00|> mister<|0.41|> quilter<|0.87|>' instead of the paper's
    '<|0.00|>mister<|0.41|>quilter<|0.87|>'. With a byte-level BPE, ' quilter' and 'quilter' are different tokens:
    spaced, an SRWT answer's words are the tokens they have inside a transcript (what ASR trains and the frames' CTC
    spells, so decode.ctc_timed can score them), with time tokens where a transcript has nothing. Both parse and
    score the same."""

    def __post_init__(self) -> None:
        _check(self.format, TAG_FORMATS, "tags.format")


WORLD_SIZES = ("tiny", "small", "full")
WORLD_LANGUAGES = ("en", "de", "fr", "es", "zh")


@dataclass
class WorldConfig:
    size: str = "tiny"
    """Built-in audio world: tiny (seconds to build) | small (minutes) | full (100k+ clips, parallel build)."""
    out: str = "data/world"
    """Cache folder; each build lands in a subfolder named by size and a hash of its settings."""
    languages: list[str] = field(default_factory=lambda: list(WORLD_LANGUAGES))
    """Spoken languages (en, de, fr, es, zh; zh is espeak-ng's Mandarin)."""
    tasks: list[str] | None = None
    """World tasks to build; null = every world task (training builds only what data.tasks needs)."""
    n_train: int | None = None
    """Override the size's clips per generator in train (null = the size's own count)."""
    n_val: int | None = None
    """Override the size's clips per generator in validation."""
    n_test: int | None = None
    """Override the size's clips per generator in test (unseen voices, sentences and event combinations)."""
    crowd: float = 0.5
    """Share of train and val speech clips spoken by a crowd voice (accent, espeak-ng variant and pitch drawn per
    clip, no speaker name) instead of a named training speaker: acoustic variety so that unseen test voices are
    understood. 0 = named speakers only (the world before this key). Test clips never use the crowd."""
    workers: int = 0
    """Build processes; 0 = auto (one per CPU core up to 8, or in-process for small builds), 1 = in-process."""
    seed: int | None = None
    """The world's seed; null = the run's `seed`, so each seed of an ablation trains and is tested on its own world.
    Fix it to give every seed one world (built and encoded once): seeds then differ in initialisation and data order
    only, and the paired differences leave out the variation between test sets."""

    def __post_init__(self) -> None:
        _check(self.size, WORLD_SIZES, "world.size")
        for lang in self.languages:
            _check(lang, WORLD_LANGUAGES, "world.languages")
        if not self.languages:
            raise ConfigError("world.languages: name at least one language")
        if not 0.0 <= self.crowd <= 1.0:
            raise ConfigError(f"world.crowd={self.crowd}: expected a share between 0 and 1")
        for key in ("n_train", "n_val", "n_test"):
            n = getattr(self, key)
            if n is not None and n < 1:
                raise ConfigError(f"world.{key}={n}: expected >= 1 or null")


@dataclass
class DataConfig:
    train_manifest: str | None = None
    """JSONL manifest for training; null builds the built-in audio world (the `world` section)."""
    val_manifest: str | None = None
    """JSONL manifest for validation; null uses the world's validation split."""
    tasks: list[str] = field(default_factory=lambda: ["asr", "srwt"])
    """Tasks kept from the manifests; lines of other tasks are skipped."""
    task_weights: dict[str, float] = field(default_factory=dict)
    """Sampling weight per task (default 1 each); weight 0 drops a task from training."""
    batch_seconds: float = 60.0
    """Audio seconds per batch, counted as longest clip x batch size (duration-bucketed batching)."""
    max_batch_size: int = 64
    """Upper bound on clips per batch."""
    bucket: bool = True
    """Group clips of similar duration into batches (less padding); false draws batches at random."""
    num_workers: int = 0
    """DataLoader worker processes."""
    cache_features: bool = True
    """When the audio tower is frozen (stage sft, or model.freeze), encode each clip once and train on cached
    features (qa_lab.core.features); false runs the encoder every step."""
    features_dir: str = "data/features"
    """Where cached audio-tower features live (one folder per tower weights hash)."""
    skip_invalid: bool = False
    """Skip manifest lines that fail validation (each is logged) instead of refusing the manifest."""
    max_target_tokens: int = 1024
    """Longest answer (tokens) a training or validation example may have; longer ones are refused at start-up, naming
    file:line (skipped with skip_invalid), instead of exhausting memory in attention mid-run."""
    max_dialogue_seconds: float = 120.0
    """Most audio one dialogue line (the chat stage) may hold, all its clips together; a longer dialogue is refused at
    start-up, naming file:line (skipped with skip_invalid), as is one whose turns and audio frames together exceed
    the LLM's context (max_position_embeddings)."""

    def __post_init__(self) -> None:
        for key in ("batch_seconds", "max_dialogue_seconds"):
            if not 0 < getattr(self, key) < math.inf:  # NaN fails both
                raise ConfigError(f"data.{key}={getattr(self, key)}: expected a finite number of seconds > 0")
        _at_least_one(self.max_target_tokens, "data.max_target_tokens")
        if bool(self.train_manifest) != bool(self.val_manifest):
            raise ConfigError("data.train_manifest and data.val_manifest: set both (your own data) or neither "
                              "(the built-in audio world)")
        for task, w in self.task_weights.items():
            close = difflib.get_close_matches(task, self.tasks, n=1) if task not in self.tasks else []
            if close:  # a typo of a trained task (a weight for an untrained task is harmless: shared experiments)
                hint = f"; did you mean {close[0]!r}?"
                raise ConfigError(f"data.task_weights.{task}={w}: {task!r} is not trained (data.tasks: "
                                  f"{', '.join(self.tasks)}){hint}")
            if not 0 <= w < math.inf:
                raise ConfigError(f"data.task_weights.{task}={w}: expected a finite weight >= 0")
        if self.tasks and all(self.task_weights.get(t, 1) == 0 for t in self.tasks):
            raise ConfigError(f"data.task_weights: every trained task has weight 0 (data.tasks: "
                              f"{', '.join(self.tasks)}); give at least one a weight > 0")


@dataclass
class PartsRecipe:
    """What the kit-made parts are made of: shared by the run config (`parts.*`) and the cache key (PartsSpec)."""

    encoder_steps: int = 300
    """CTC steps of the encoder on world ASR (characters of the transcript); 0 makes no encoder (the run names a
    real one in model.audio_encoder)."""
    encoder_from: str | None = None
    """Adapt this real Whisper (a model.audio_encoder name, e.g. packaged:tiny.en) to the world's voices by CTC instead
    of training a random encoder of the preset's shape; the runs then start from the adapted one (leave
    model.audio_encoder unset). None = random."""
    encoder_layers: int = 0
    """With encoder_from: train only its top this-many layers and final norm (the frozen layers below run once per
    clip); 0 = every layer."""
    encoder_clips: int = 1500
    """With encoder_from: training speech clips the adaptation hears, from a speech-only world of its own (same seed
    and languages as the parts world; half crowd voices, as every world)."""
    encoder_batch: int = 16
    """Clips per encoder CTC step. At a fixed cost, smaller batches and more steps adapt better: tiny.en's top two
    layers read unseen test voices at character error 0.37 after 180 steps of 16 clips and 0.24 after 720 steps of
    4 (2026-12-04; experiments/results/listen-diagnosis/ section 8)."""
    encoder_lr: float = 3e-4
    """With encoder_from: peak learning rate of the pretrained Whisper's weights (its fresh CTC head uses the parts'
    lr). Measured on tiny.en's top two layers: 3e-4 carried to unseen voices, 1e-3 did worse than not training them."""
    llm_steps: int = 300
    """Causal-LM steps of the LLM on the world's target texts."""
    llm_copy: float = 0.0
    """Share of the LLM's pretraining texts given as copy rows: the text as an audio CTC would spell it (each token
    once or twice, blanks = the pad token between), then the text itself, the loss on the copy only. It teaches the
    text LLM to copy a spelled-out span before any audio arrives (for `model.projector: tokens`). 0 = plain text."""
    world_size: str = "tiny"
    """The world the parts pretrain on: tiny | small | full."""
    world_overrides: dict = field(default_factory=dict)
    """Other world settings for that world, e.g. {n_train: 200, languages: [en]}."""


@dataclass
class PartsConfig(PartsRecipe):
    enabled: bool = False
    """Start from kit-made pretrained parts (tiny presets have no published checkpoints): a Whisper encoder
    pretrained on the world's ASR through a CTC head, and an LLM pretrained on the world's text (qa-lab pretrain-parts)."""
    out: str = "data/parts"
    """Cache folder; one subfolder per parts spec (preset, steps, world)."""


@dataclass
class TrainerConfig:
    max_steps: int = 300
    """Optimizer steps to train (times step_fraction: `TrainerConfig.steps`)."""
    step_fraction: float = 1.0
    """The run trains round(max_steps x step_fraction) steps, at least 1 (warm-up, validation and checkpoint intervals
    unchanged). For an arm that must see as many examples of its tasks as a mixture that trains them among others,
    whatever the scale's max_steps: the interference ablation's family-alone arms at matched steps
    (ablations/interference_matched) take the family's share of the mixture's examples."""
    lr: float = 1e-3
    """Peak learning rate (AdamW), linear warm-up then cosine decay."""
    encoder_lr: float | None = None
    """Peak learning rate of the audio tower's trained weights (same schedule); None = trainer.lr. Pretrained
    Whisper layers want a smaller one than a fresh projector and a small LLM."""
    weight_decay: float = 0.0
    """AdamW weight decay, on weight matrices only (not biases, norms or the token embeddings)."""
    warmup_steps: int = 20
    """Linear warm-up steps."""
    precision: str = "auto"
    """Lightning precision; auto = bf16-mixed on GPU, 32-true on CPU. bf16-mixed on a CPU with bf16 matmuls
    (AVX512-BF16, AMX) trained scale/tiny-cpu's arms 1.4x faster and encoded its feature cache 2.6x faster on this
    project's AMD EPYC (experiments/results/listen-diagnosis/README.md)."""
    strategy: str = "auto"
    """Lightning strategy: auto | ddp | fsdp | deepspeed."""
    accelerator: str = "auto"
    """Lightning accelerator: auto | cpu | gpu."""
    devices: Any = "auto"
    """Lightning devices: auto, a count, or a list of ids."""
    num_nodes: int = 1
    """Machines in a multi-node run."""
    accumulate_grad_batches: int = 1
    """Batches per optimizer step."""
    loss_normalization: str = "tokens"
    """What one optimiser step's answer losses are summed and divided by (the CTC loss stays a mean).
    tokens: every target token of the run weighs the same, whatever its micro-batch, step or rank: the step's summed
    token losses over the mean target tokens per step (counted over the seeded batch stream's first pass), so each
    task's share of the loss is its share of the target tokens. examples: every example weighs the same (each
    example's token mean, summed, over the mean examples per step), so the loss follows data.task_weights exactly.
    step_tokens: the step's sum over the target tokens in that step, all micro-batches and ranks included
    (transformers' num_items_in_batch); a task whose clips are short fills steps with many short answers, and its
    tokens weigh less. batch: the token mean of each micro-batch (the kit before 2026-12-04). benchmarks/README.md
    has the measured shares of each."""
    gradient_clip_val: float = 1.0
    """Clip the gradient norm (0 disables)."""
    val_every_n_steps: int = 100
    """Validate every this many optimizer steps (each of trainer.accumulate_grad_batches batches)."""
    grad_conflict_every_n_steps: int = 0
    """Every this many steps log the cosine between per-task gradients (qa_lab.study.interference; grad_conflict.jsonl in
    the run folder) on a fixed batch holding two examples of every task; 0 = off."""
    val_decode_per_task: int = 0
    """At each validation also decode this many validation examples per task and log the task metrics
    (val/{task}/{metric}, e.g. val/srwt/aas); 0 = losses only."""
    log_every_n_steps: int = 10
    """Log metrics every this many steps."""
    checkpoint_every_n_steps: int = 100
    """Save a checkpoint every this many optimizer steps (the last one is always kept)."""
    keep_checkpoints: int = 3
    """Keep this many of the newest step checkpoints (stepN.ckpt) besides last.ckpt, deleting older ones as new ones
    are saved; 0 keeps every one (a learning curve over checkpoints needs them; a tiny-cpu checkpoint is 22 MB)."""

    @property
    def steps(self) -> int:
        """The optimiser steps this run trains: max_steps x step_fraction, rounded, at least 1."""
        return max(1, round(self.max_steps * self.step_fraction))

    def __post_init__(self) -> None:
        _check(self.strategy, STRATEGIES, "trainer.strategy")
        _check(self.loss_normalization, LOSS_NORMALIZATIONS, "trainer.loss_normalization")
        _at_least_one(self.max_steps, "trainer.max_steps")
        if not 0 < self.step_fraction <= 1:  # NaN fails too
            raise ConfigError(f"trainer.step_fraction={self.step_fraction}: expected a fraction in (0, 1]")
        _at_least_one(self.accumulate_grad_batches, "trainer.accumulate_grad_batches")
        for key in ("lr", "encoder_lr"):
            v = getattr(self, key)
            if v is not None and not 0 < v < math.inf:
                raise ConfigError(f"trainer.{key}={v}: expected a finite learning rate > 0")
        for key in ("weight_decay", "gradient_clip_val", "warmup_steps", "grad_conflict_every_n_steps",
                    "val_decode_per_task", "keep_checkpoints"):
            if not 0 <= getattr(self, key) < math.inf:  # NaN fails both
                raise ConfigError(f"trainer.{key}={getattr(self, key)}: expected a finite number >= 0")
        for key in ("val_every_n_steps", "log_every_n_steps", "checkpoint_every_n_steps"):
            _at_least_one(getattr(self, key), f"trainer.{key}")
        if self.strategy == "fsdp" and self.val_decode_per_task:
            raise ConfigError(f"trainer.val_decode_per_task={self.val_decode_per_task} with trainer.strategy=fsdp: "
                              "FSDP shards the weights, so no rank can generate alone; set "
                              "trainer.val_decode_per_task=0 and decode checkpoints with `qa-lab eval`")


@dataclass
class DecodeConfig:
    num_beams: int = 1
    """Beam width of every decode (validation, eval, infer, ablations); 1 = greedy. `--num-beams` overrides it."""
    ctc_weight: float = 0.0
    """Joint CTC / LM decoding of transcription tasks (asr, asr_noise): each next token is scored by
    (1 - w) log p_LM + w x its CTC prefix score from the model's own audio frames (qa_lab.core.ctc). 0 = the LM alone.
    Needs a model trained with model.ctc_weight > 0. `--ctc-weight` overrides it."""
    ctc_timed: bool = False
    """SRWT answers decoded jointly with the frames' CTC as transcripts are (decode.ctc_weight): the words are scored
    by the LLM and the frames, the time tokens by the LLM alone (they stay outside what the frames spell), so every
    time in the answer is still the LLM's own token."""
    monotone_times: bool = True
    """SRWT and grounding answers: a time token may not be earlier than the one before it (Whisper's timestamp rule),
    so answers never fail to parse for decreasing times (a word or a span that ends before it starts)."""
    srwt_grammar: bool = True
    """SRWT answers keep SRWT's grammar while decoded: they open with a time token, and a word (not only spaces)
    stands between every two time tokens, so they never fail to parse for an empty word (joint CTC decoding,
    decode.ctc_timed, wrote such words). Still the LLM's own tokens: the rule only removes those choices."""
    times: str = "lm"
    """Where SRWT and grounding answers get their times. lm: the LLM writes its time tokens (the paper's model).
    ctc: from the model's own audio frames, as WhisperX-style aligners do: the clip is transcribed with the asr
    prompt (jointly with the CTC when ctc_weight > 0), the transcript is force-aligned to the frames' CTC
    (qa_lab.core.align), SRWT answers are its timed words and grounding answers the query's span(s) in it (keyword
    spotting in the frames when the transcript misses the query). Needs a model trained with model.ctc_weight > 0;
    the LLM's time tokens are then not used, so an SRWT ablation measures them only under lm."""
    max_new_tokens: int | None = None
    """At most this many new tokens per answer of every task, in validation, eval, infer and ablations (null: each
    task's own budget, Task.max_new_tokens, e.g. 128 for asr and 256 for srwt; `qa-lab chat` has its own
    `--max-new-tokens`). `smoke=true` sets 32: an untrained model writes to the budget, and smoke runs
    only check the plumbing. An explicit `max_new_tokens` (`qa-lab eval --max-new-tokens`, an ablation eval entry's)
    wins over it."""

    def __post_init__(self) -> None:
        _at_least_one(self.num_beams, "decode.num_beams")
        if self.max_new_tokens is not None:
            _at_least_one(self.max_new_tokens, "decode.max_new_tokens")
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise ConfigError(f"decode.ctc_weight={self.ctc_weight}: expected a weight between 0 and 1")
        _check(self.times, DECODE_TIMES, "decode.times")


@dataclass
class Config:
    name: str = "base"
    """Experiment name (the yaml's file name); names the run folder."""
    parent: str | None = None
    """The experiment this one overrides (a file name in experiments/), or null for base."""
    seed: int = 0
    """Seed for data order, initialisation and generation."""
    stage: str = "finetune"
    """pretrain: encoder+projector train, LLM frozen | sft: encoder frozen, LLM LoRA + projector |
    finetune: LLM LoRA (+ optional encoder LoRA) + projector | full: everything (from-scratch tiny models)."""
    init_from: str | None = None
    """A checkpoint (.ckpt) or export folder whose trained weights start this run (e.g. sft after pretrain)."""
    smoke: bool = False
    """Shrink any experiment to the tiny model, a few steps and a tiny corpus (tests, CI, notebooks)."""
    runs_dir: str = "runs"
    """Where run folders are created."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """The audio-LLM."""
    lora: LoraConfig = field(default_factory=LoraConfig)
    """LoRA adapters."""
    tags: TagsConfig = field(default_factory=TagsConfig)
    """Task prompt format."""
    data: DataConfig = field(default_factory=DataConfig)
    """Manifests, batching, task mixing."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Optimisation and Lightning Trainer settings."""
    world: WorldConfig = field(default_factory=WorldConfig)
    """The built-in audio world used when data.train_manifest is null."""
    parts: PartsConfig = field(default_factory=PartsConfig)
    """Kit-made pretrained encoder and LLM for presets without checkpoints."""
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    """How answers are decoded (beam width, joint CTC scoring)."""

    def __post_init__(self) -> None:
        _check(self.stage, STAGES, "stage")
        source = qwen2_audio_source(self.model)
        if source:
            # the instruction-tuned checkpoint answers in ChatML; the base one reads plain instructions; a local
            # folder may be either
            instruct = self.model.preset == "qwen2-audio-7b-instruct" and not self.model.qwen2_audio
            base = self.model.preset == "qwen2-audio-7b" and not self.model.qwen2_audio
            allowed = (("qwen2-audio-chat",) if instruct else ("qwen2-audio",) if base
                       else ("qwen2-audio", "qwen2-audio-chat"))
            if self.tags.format not in allowed:
                raise ConfigError(f"tags.format={self.tags.format!r}: the Qwen2-Audio checkpoint {source!r} "
                                  f"(model.{'qwen2_audio' if self.model.qwen2_audio else 'preset'}) was trained with "
                                  f"Qwen2-Audio's own prompts, not these: set tags.format={' or '.join(allowed)}")

    @property
    def world_seed(self) -> int:
        """The seed the built-in world is built with (world.seed, else the run's seed)."""
        return self.world.seed if self.world.seed is not None else self.seed
