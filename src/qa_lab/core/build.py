"""A model from a config: the preset's checkpoints (from_pretrained) or tiny random inits, the tokenizer with tag
tokens, the stage's freezing and LoRA, and `init_from` weights."""

from __future__ import annotations

import logging

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, Qwen2Config, WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from qa_lab.config import Config, ModelConfig
from qa_lab.core import qwen2_audio
from qa_lab.core.model import AudioLLM, init_time_codes, load_whisper_encoder
from qa_lab.core.stages import apply_stage
from qa_lab.core.tokenizer import add_chat_tokens, chat_token_ids, load_tokenizer, tiny_tokenizer
from qa_lab.core.weights import init_from
from qa_lab.presets import PRESETS, qwen2_audio_source
from qa_lab.prompts.tasks import REGISTRY

log = logging.getLogger(__name__)
VOCAB_MULTIPLE = 64


def build_backbones(cfg: ModelConfig, vocab_size: int) -> tuple[WhisperEncoder, PreTrainedModel]:
    """Encoder and LLM from the preset: checkpoints via from_pretrained, or random init for `tiny`.

    `model.audio_encoder` / `model.language_model` override the preset's checkpoint ids (e.g. local folders).
    """
    preset = PRESETS[cfg.preset]
    enc_name = cfg.audio_encoder or preset.audio_encoder
    llm_name = cfg.language_model or preset.language_model
    if llm_name and preset.trust_remote_code and not cfg.trust_remote_code and not cfg.language_model:
        raise ValueError(f"model.preset={cfg.preset!r} loads {llm_name} with remote code; "
                         "set model.trust_remote_code=true to allow it")
    if enc_name:
        encoder = load_whisper_encoder(enc_name)
    else:
        encoder = WhisperEncoder(WhisperConfig(**preset.encoder_config))
    if llm_name:
        llm = AutoModelForCausalLM.from_pretrained(llm_name, trust_remote_code=cfg.trust_remote_code,
                                                   dtype="auto")
    else:
        llm = AutoModelForCausalLM.from_config(Qwen2Config(vocab_size=vocab_size, **preset.llm_config))
    return encoder, llm


def assemble(cfg: ModelConfig, tokenizer) -> AudioLLM:
    """An AudioLLM for `cfg` with the token table sized to `tokenizer` (tag tokens included). A Qwen2-Audio
    checkpoint (model.qwen2_audio or its preset) gives the tower, projector and LLM (qa_lab.core.qwen2_audio)."""
    source = qwen2_audio_source(cfg)
    projector = None
    if source:
        if cfg.projector != "linear" or cfg.audio_norm:
            raise ValueError(f"model.qwen2_audio={source}: Qwen2-Audio's projector is one linear layer; "
                             "model.projector must be linear and model.audio_norm false")
        encoder, llm, projector = qwen2_audio.load_parts(source)
    else:
        # a random init sized without ChatML's tokens when they were added last: the same weights as a run without
        # dialogues (so a chat stage starts from what the multitask run had), the rows added by the resize below
        added = [i for i in chat_token_ids(tokenizer) if i >= len(tokenizer) - 2]
        encoder, llm = build_backbones(cfg, len(tokenizer) - len(added))
    if llm.get_input_embeddings().num_embeddings < len(tokenizer):
        # a checkpoint's table grown for the tag tokens: rounded up to a multiple of VOCAB_MULTIPLE rows, so the
        # LM head's matmul keeps tensor-core-friendly shapes; AudioLLM.generate never emits the spare rows
        llm.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=VOCAB_MULTIPLE)
    if cfg.frame_times:
        init_time_codes(llm, tokenizer)
    if cfg.gradient_checkpointing:
        encoder.gradient_checkpointing_enable()
        llm.gradient_checkpointing_enable()
    model = AudioLLM(encoder, llm, tokenizer, audio_padding=cfg.audio_padding, projector=cfg.projector,
                     pool_stride=cfg.pool_stride, ctc_weight=cfg.ctc_weight, ctc_layer=cfg.ctc_layer,
                     train_encoder_layers=cfg.train_encoder_layers, frame_times=cfg.frame_times,
                     clip_codes=cfg.clip_codes, time_sigma=cfg.time_sigma, audio_positions=cfg.audio_positions,
                     time_pointer=cfg.time_pointer,
                     audio_norm=cfg.audio_norm, tower="qwen2-audio" if source else "whisper")
    if projector is not None:
        model.projector = projector  # the checkpoint's multi_modal_projector.linear
    return model


def uses_dialogues(cfg: Config) -> bool:
    """Whether cfg trains on dialogue tasks (the chat stage): its tokenizer then carries ChatML's tokens."""
    return any(REGISTRY[t].family == "dialogue" for t in cfg.data.tasks if t in REGISTRY)


def build_tokenizer(cfg: Config):
    """The LLM's tokenizer with tag tokens, or the tiny BPE when the preset has no LLM checkpoint; a Qwen2-Audio
    checkpoint's own tokenizer with the tokens answers write. ChatML's tokens join when cfg trains on dialogues."""
    if source := qwen2_audio_source(cfg.model):
        tok = qwen2_audio.load_tokenizer(source, chat=cfg.tags.format == "qwen2-audio-chat",
                                         trust_remote_code=cfg.model.trust_remote_code)
    else:
        name = cfg.model.language_model or PRESETS[cfg.model.preset].language_model
        tok = tiny_tokenizer() if name is None else load_tokenizer(name, trust_remote_code=cfg.model.trust_remote_code)
    if uses_dialogues(cfg):
        add_chat_tokens(tok)
    return tok


def build_model(cfg: Config, tokenizer=None) -> AudioLLM:
    """Tokenizer + model for `cfg`, frozen and wrapped for its stage. Seeded: random inits repeat."""
    tokenizer = tokenizer or build_tokenizer(cfg)
    torch.manual_seed(cfg.seed)
    model = assemble(cfg.model, tokenizer)
    if cfg.init_from:  # before and after the stage wraps the model: see core.weights.init_from
        loaded = init_from(model, cfg.init_from, require=False)
        model = apply_stage(model, cfg.stage, cfg.lora, cfg.model.freeze)
        loaded += init_from(model, cfg.init_from, require=not loaded)
        log.info("init_from %s: %d weight tensors loaded", cfg.init_from, len(loaded))
    else:
        model = apply_stage(model, cfg.stage, cfg.lora, cfg.model.freeze)
    # from_pretrained hands back modules in eval mode; a model built for training starts in train mode
    return model.train()
