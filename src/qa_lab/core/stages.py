"""Training stages: which parts train, where LoRA goes, and the tag tokens' embedding rows."""

from __future__ import annotations

import torch.nn as nn
from peft import LoraConfig as PeftLoraConfig
from peft import TrainableTokensConfig, get_peft_model

from qa_lab.config import LoraConfig
from qa_lab.core.model import AudioLLM


def _module_name(model: nn.Module, module: nn.Module) -> str:
    for name, m in model.named_modules():
        if m is module:
            return name.rsplit(".", 1)[-1]
    raise ValueError(f"{type(module).__name__} not found in {type(model).__name__}")


def token_row_targets(llm: nn.Module) -> list[str]:
    """Modules whose tag-token rows train: the input embeddings, and the LM head unless it is tied."""
    inp = llm.get_input_embeddings()
    out = llm.get_output_embeddings()
    names = [_module_name(llm, inp)]
    if out is not None and out.weight is not inp.weight:
        names.append(_module_name(llm, out))
    return names


def apply_stage(model: AudioLLM, stage: str, lora: LoraConfig, freeze: list[str] | tuple = ()) -> AudioLLM:
    """Freeze and wrap `model` in place for `stage` (pretrain | sft | finetune | full); returns it.

    pretrain: encoder + projector train, LLM frozen.  sft: encoder frozen, LLM LoRA + projector.
    finetune: LLM LoRA (+ encoder LoRA if lora.encoder) + projector.  full: everything trains.
    The time pointer (model.time_pointer) trains wherever the projector does.
    In every stage but full the tag tokens' embedding rows train (peft trainable tokens).
    `freeze` names parts kept frozen whatever the stage (e.g. full with a frozen real Whisper: audio_tower).
    A frozen tower's top `model.train_encoder_layers` layers and final norm train all the same.
    """
    _apply_stage(model, stage, lora)
    for part in freeze:
        getattr(model, part).requires_grad_(False)
    if model.train_encoder_layers and not tower_trains(model):
        tower = model.audio_tower
        tower.layers[-model.train_encoder_layers:].requires_grad_(True)
        tower.layer_norm.requires_grad_(True)
    return model


def tower_trains(model: AudioLLM) -> bool:
    """True when any audio-tower weight below its top `model.train_encoder_layers` layers trains; False when the
    tower's features (or, with trained top layers, the output of the frozen layers below) can be cached."""
    return any(p.requires_grad and model.cached_weight(name) for name, p in model.audio_tower.named_parameters())


def _apply_stage(model: AudioLLM, stage: str, lora: LoraConfig) -> None:
    if stage == "full":
        model.requires_grad_(True)
        model.audio_tower.embed_positions.requires_grad_(False)  # Whisper's sinusoids stay fixed
        return
    model.requires_grad_(False)
    ids = model.tag_ids()
    targets = token_row_targets(model.language_model)
    if stage == "pretrain":
        peft_cfg = TrainableTokensConfig(token_indices=ids, target_modules=targets)
    else:
        peft_cfg = PeftLoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                  target_modules=list(lora.target_modules),
                                  trainable_token_indices={t: ids for t in targets})
    model.language_model = get_peft_model(model.language_model, peft_cfg)
    if stage == "pretrain":
        model.audio_tower.requires_grad_(True)
        model.audio_tower.embed_positions.requires_grad_(False)
    elif stage == "finetune" and lora.encoder:
        enc_cfg = PeftLoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                 target_modules=list(lora.encoder_target_modules))
        model.audio_tower = get_peft_model(model.audio_tower, enc_cfg)
    model.projector.requires_grad_(True)
    if model.time_pointer is not None:  # a new part of the head, like the projector: it trains in every stage
        model.time_pointer.requires_grad_(True)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
