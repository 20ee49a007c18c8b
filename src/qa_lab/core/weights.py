"""Trained weights read back: a Lightning checkpoint's (refusing any pickle that would run code) or an export's, and
copied into another model (`init_from`)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import load_file

from qa_lab.core.model import AudioLLM


# how torch's weights-only unpickler words a refusal, as torch 2.13 does: "Unsupported global: GLOBAL x.y was not an
# allowed global ...", "Trying to load unsupported GLOBAL posix.system whose module posix is blocked" (os, sys),
# "Trying to call reduce for unrecognized function ...", "Can only build ... allowlisted via `add_safe_globals`"
_REFUSED = re.compile(r"unsupported global|unrecognized function|add_safe_globals", re.IGNORECASE)


def read_checkpoint(path: Path) -> tuple[str | None, dict[str, torch.Tensor]]:
    """A Lightning checkpoint -> (its qa-lab config yaml, if any; trained weights by AudioLLM name).

    Read with torch's weights-only unpickler: a checkpoint holds tensors and plain containers, so a file that needs
    anything else (a pickle that would run code) is refused, as is an empty, truncated or foreign file, each by name."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty checkpoint file (a save that never finished?)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  a damaged file fails in many ways (unpickling, zip, struct, EOF)
        unsafe = [line.strip() for line in str(e).splitlines() if _REFUSED.search(line)]
        if unsafe:
            raise ValueError(f"{path}: refused: it holds objects beyond tensors and plain containers, which loading "
                             f"would execute ({unsafe[0]})") from None
        why = (str(e).splitlines() or [type(e).__name__])[-1]
        raise ValueError(f"{path}: not a readable checkpoint (truncated or corrupt: {why})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ValueError(f"{path}: not a Lightning checkpoint (no state_dict inside)")
    return ckpt.get("qa_lab_config"), {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()}


def trained_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The trained weights stored in a checkpoint file or an export folder, by AudioLLM parameter name."""
    path = Path(path)
    if path.is_dir():
        if not (path / "trainable.safetensors").is_file():
            raise FileNotFoundError(f"{path}: not a qa-lab export (missing trainable.safetensors)")
        return load_file(path / "trainable.safetensors")
    return read_checkpoint(path)[1]


def _canonical(name: str) -> str:
    """A parameter name without peft's wrapping (LoRA base layers, trainable-token adapters, PeftModel nesting)."""
    return (name.replace(".base_model.model.", ".").replace(".base_layer.", ".")
            .replace(".token_adapter.", "."))


def _token_rows(name: str) -> bool:
    """Whether a weight has one row per token: the token table, the LM head, peft's trained token rows."""
    return any(k in name for k in ("embed_tokens", "lm_head", "trainable_tokens_delta"))


def init_from(model: AudioLLM, path: str | Path, require: bool = True) -> list[str]:
    """Copy the weights another run trained into `model` (same weight under peft or not, same shape); returns
    the names loaded in `model`.

    Names are compared without peft's wrapping, so a full-stage checkpoint (plain names) initialises a LoRA
    model's base weights and a pretrain checkpoint initialises sft. core.build.build_model calls this before the stage
    wraps the model (base weights and embedding rows, which trainable-token copies then start from) and after
    (LoRA and trainable-token weights of a peft source). LoRA weights of a source are not merged into base
    weights. Errors if nothing matches and `require`.
    """
    state = model.state_dict()
    own = {_canonical(k): (k, v.shape) for k, v in state.items()}
    fits = {}
    for k, v in trained_weights(path).items():
        name, shape = own.get(_canonical(k), (None, None))
        if name is None:
            continue
        if shape == v.shape:
            fits[name] = v
        elif _token_rows(name) and shape[1:] == v.shape[1:] and shape[0] > v.shape[0]:
            # this model has more token rows (ChatML's, added last for dialogues, and the table's padding to 64):
            # the source's rows come first, and the new ones keep their own start
            fits[name] = torch.cat([v.to(state[name].dtype), state[name][v.shape[0]:]])
    if not fits and require:
        raise ValueError(f"init_from={path}: none of its weights match this model")
    model.load_state_dict(fits, strict=False)
    return sorted(fits)
