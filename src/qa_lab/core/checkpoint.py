"""Checkpoints and exports: load a Lightning checkpoint or an export folder; export adapters + projector."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from safetensors.torch import load_file, save_file
from transformers import AutoTokenizer

from qa_lab.config import Config, from_yaml, from_yaml_text, load_config, to_yaml
from qa_lab.core import qwen2_audio
from qa_lab.core.build import build_model
from qa_lab.core.model import AudioLLM
from qa_lab.core.qwen2_audio import check_source
from qa_lab.core.weights import read_checkpoint
from qa_lab.data.cache import check_apart, check_replaceable, replacing
from qa_lab.errors import CannotWrite
from qa_lab.presets import qwen2_audio_source

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made safe: each checkpoint is written beside its target (same filesystem,
    whatever TMPDIR is), flushed to disk, then renamed over it. A kill, a crash or a full disk mid-save leaves the
    previous file whole (never a truncated or empty last.ckpt) and no temporary file behind. A save the system refuses
    (no space, a file-size limit, a folder made read-only) is a CannotWrite naming the checkpoint."""
    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as e:
            # torch.save turns a failed write into a RuntimeError ("unexpected pos ..."), the OSError as its context
            cause = e if isinstance(e, OSError) else e.__context__
            if not isinstance(cause, OSError):
                raise
            kept = f"the previous {path.name} is kept whole" if path.is_file() else "no checkpoint was written"
            raise CannotWrite(path, cause, kept) from cause
        finally:
            try:
                tmp.unlink(missing_ok=True)
            except OSError as e:  # the folder turned read-only: the error being raised above is the one to see
                log.warning("could not remove the partial checkpoint %s: %s", tmp, e.strerror)


def _load_trainable(model: AudioLLM, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load trainable weights; every trainable parameter must be present (base weights come from the preset)."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    lacking = sorted(trainable & set(missing))
    if lacking or unexpected:
        raise ValueError(f"{source}: weights do not fit the model built from its config: "
                         f"missing {lacking[:3]}, unexpected {list(unexpected)[:3]}")


def _checkpoint_step(path: Path) -> int:
    """The step in a checkpoint's file name (step120.ckpt -> 120; last.ckpt and others -> -1)."""
    stem = path.stem.removeprefix("step")
    return int(stem) if stem.isdigit() else -1


def _stored_step(path: Path) -> int | None:
    """The global_step a checkpoint holds, read memory-mapped (its tensors stay on disk); -1 when it holds none, None
    when it cannot be opened (empty, truncated, foreign: read_checkpoint says which)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001  a damaged file fails in many ways
        return None
    step = ckpt.get("global_step") if isinstance(ckpt, dict) else None
    return step if isinstance(step, int) else -1


def resume_point(path: str | Path) -> tuple[Path, str | None]:
    """`--resume PATH` -> (the checkpoint to continue from, its qa-lab config yaml).

    PATH is a checkpoint file or a run folder. A step file that can be read is used as given (to go back to that
    step). A run folder, last.ckpt, or a file that cannot be read (empty, truncated, corrupt, foreign) resumes from
    the readable checkpoint in that folder holding the highest global step: a kill between two saves can leave
    last.ckpt behind a newer step file. The choice is printed, with the reason each unreadable file was passed over.
    A missing file, or a folder with nothing readable, is an error naming it."""
    path = Path(path)
    if path.is_dir():
        folder, given = (path / "checkpoints" if (path / "checkpoints").is_dir() else path), None
    elif path.is_file():
        folder, given = path.parent, path
    else:
        raise FileNotFoundError(f"--resume {path}: no such checkpoint file or run folder")
    steps, problems = {}, []
    for p in sorted(folder.glob("*.ckpt")):
        step = _stored_step(p)
        if step is None:
            try:
                read_checkpoint(p)
            except ValueError as e:
                problems.append(str(e))
                continue
            step = _checkpoint_step(p)  # readable but not memory-mappable (torch's legacy format): its name's step
        steps[p] = step
    ranked = sorted(steps, key=lambda p: (steps[p], p == given, p.name == "last.ckpt", p.stat().st_mtime),
                    reverse=True)
    if given in steps and given.name != "last.ckpt":
        ranked = [given] + [p for p in ranked if p != given]
    for candidate in ranked:
        try:
            config_yaml, _ = read_checkpoint(candidate)
        except ValueError as e:
            problems.append(str(e))
            continue
        if candidate != given:
            behind = f"; {given.name} holds step {steps[given]}" if given in steps else ""
            print("".join(f"[qa-lab] {p}\n" for p in problems)
                  + f"[qa-lab] resuming from {candidate}{' instead' if given or problems else ''}, the newest readable "
                  f"checkpoint in {folder} (step {steps[candidate]}){behind}")
        return candidate, config_yaml
    raise ValueError(f"--resume {path}: no readable checkpoint in {folder}"
                     + (":\n  " + "\n  ".join(problems) if problems else " (no .ckpt files)"))


def _no_remote_code(cfg: Config, source: Path, allow: bool) -> Config:
    """A loaded file never turns remote code on by itself: its model.trust_remote_code stands only when the user
    allows it (`--trust-remote-code`, or `allow=True` in code)."""
    if cfg.model.trust_remote_code and not allow:
        log.warning("%s asks for model.trust_remote_code; ignored (pass --trust-remote-code to allow it)", source)
        cfg.model.trust_remote_code = False
    return cfg


def _saved_tokenizer(folder: Path, trust_remote_code: bool):
    """A run's or an export's tokenizer. Code its tokenizer_config.json names (an auto_map) runs only with
    `trust_remote_code`, said explicitly: transformers' default asks y/N on the terminal."""
    try:
        return AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    except ValueError as e:
        if "trust_remote_code" not in str(e):
            raise
        raise ValueError(f"{folder}: this tokenizer names code of its own (auto_map in tokenizer_config.json), which "
                         "runs only with --trust-remote-code and model.trust_remote_code=true") from None


def load_checkpoint(path: str | Path, trust_remote_code: bool = False) -> tuple[Config, AudioLLM]:
    """A Lightning checkpoint from `qa-lab train` -> (config, model in eval mode). Remote modelling code runs only
    with `trust_remote_code` (the checkpoint's own config cannot enable it)."""
    path = Path(path)
    config_text, state = read_checkpoint(path)
    if config_text is None:
        raise ValueError(f"{path}: not a qa-lab checkpoint (no qa_lab_config inside)")
    cfg = _no_remote_code(from_yaml_text(config_text, str(path)), path, trust_remote_code)
    tok_dir = path.parent.parent / "tokenizer"  # the run folder's copy; rebuilt from the config otherwise
    model = build_model(cfg, _saved_tokenizer(tok_dir, cfg.model.trust_remote_code) if tok_dir.is_dir() else None)
    _load_trainable(model, state, path)
    return cfg, model.eval()


def load_export(path: str | Path, trust_remote_code: bool = False) -> tuple[Config, AudioLLM]:
    """An export folder from `qa-lab export` -> (config, model in eval mode). Remote modelling code runs only with
    `trust_remote_code` (the export's config.yaml cannot enable it)."""
    path = Path(path)
    for need in ("config.yaml", "tokenizer", "trainable.safetensors"):
        if not (path / need).exists():
            raise FileNotFoundError(f"{path}: not a qa-lab export (missing {need})")
    cfg = _no_remote_code(from_yaml(path / "config.yaml"), path / "config.yaml", trust_remote_code)
    model = build_model(cfg, _saved_tokenizer(path / "tokenizer", cfg.model.trust_remote_code))
    _load_trainable(model, load_file(path / "trainable.safetensors"), path / "trainable.safetensors")
    return cfg, model.eval()


def load(path: str | Path, trust_remote_code: bool = False, chat: bool = False) -> tuple[Config, AudioLLM]:
    """A checkpoint file, an export folder, or a released Qwen2-Audio folder (zero-shot; `chat` prompts it in ChatML)
    -> (config, model)."""
    path = Path(path)
    if (path / "config.json").is_file() and not (path / "config.yaml").is_file():
        return load_qwen2_audio(path, chat)
    if chat:
        raise ValueError(f"--chat is for a released Qwen2-Audio folder; {path} is a qa-lab checkpoint or export, "
                         "which prompts as it was trained (its tags.format)")
    return (load_export if path.is_dir() else load_checkpoint)(path, trust_remote_code)


def load_qwen2_audio(path: str | Path, chat: bool = False) -> tuple[Config, AudioLLM]:
    """A Qwen2AudioForConditionalGeneration folder as it is (zero-shot) -> (config, model in eval mode): the base
    config with model.qwen2_audio=path and tags.format qwen2-audio (chat: qwen2-audio-chat, for the instruct model);
    an error naming the folder if it is not one."""
    check_source(path)
    fmt = "qwen2-audio-chat" if chat else "qwen2-audio"
    cfg = load_config("base", [f"model.qwen2_audio={path}", f"tags.format={fmt}"])
    return cfg, build_model(cfg).eval()  # the stage's LoRA starts at zero: the released model's outputs


@torch.no_grad()
def _head_rows(head: torch.nn.Module, ids: torch.Tensor, d: int) -> torch.Tensor:
    """The LM head's effective rows for `ids` (through any peft wrapper): (n_ids, d), in blocks to bound memory."""
    eye = torch.eye(d)
    return torch.cat([head(eye[i:i + 256])[:, ids] for i in range(0, d, 256)]).T.contiguous()


EXPORT_FORMATS = ("kit", "qwen2-audio")


def export(ckpt: str | Path, out_dir: str | Path, trust_remote_code: bool = False, overwrite: bool = False,
           format: str = "kit") -> Path:
    """Write an export of a checkpoint. Not self-contained: reloading it also needs what its config points to
    (the parts folder of kit-pretrained presets, the `init_from` checkpoint's untrained weights, hub or local
    base checkpoints).

    OUT/adapter/ (LLM PEFT adapter, loadable with peft.PeftModel.from_pretrained), OUT/encoder_adapter/
    (when the encoder has LoRA), OUT/projector.safetensors, OUT/tag_embeddings.safetensors (the tag
    tokens' embedding and LM-head rows), OUT/trainable.safetensors (every trained weight, what the
    kit reloads), OUT/tokenizer/ and OUT/config.yaml.

    format="qwen2-audio" (a model started from a Qwen2-Audio checkpoint) writes instead a self-contained
    Qwen2AudioForConditionalGeneration folder with its processor, LoRA merged into the weights, which transformers'
    from_pretrained (and vLLM) load (qa_lab.core.qwen2_audio.export).

    A non-empty OUT is refused unless `overwrite`, which replaces it whole (an old adapter/ never survives); the
    export is written beside OUT and renamed into place, so a failure leaves OUT as it was. An OUT holding the
    checkpoint (its own run folder) is refused, `overwrite` or not.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"export format {format!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    check_apart(out_dir, [ckpt], "export folder")  # before the minutes a load can take
    check_replaceable(out_dir, overwrite, "export folder")
    cfg, model = load_checkpoint(ckpt, trust_remote_code)
    if format == "qwen2-audio" and model.tower != "qwen2-audio":
        qwen2_audio.export(model, Path(out_dir))  # refuses with the reason, before any folder is made
    with replacing(out_dir, overwrite, "export folder") as out:
        if format == "qwen2-audio":
            qwen2_audio.export(model, out, source=qwen2_audio_source(cfg.model),
                               trust_remote_code=cfg.model.trust_remote_code)
        else:
            _write_export(cfg, model, out)
    return Path(out_dir)


def _write_export(cfg: Config, model: AudioLLM, out: Path) -> None:
    llm, enc = model.language_model, model.audio_tower
    if hasattr(llm, "peft_config"):
        llm.save_pretrained(out / "adapter")
    if hasattr(enc, "peft_config"):
        enc.save_pretrained(out / "encoder_adapter")
    save_file({k: v.contiguous() for k, v in model.projector.state_dict().items()}, out / "projector.safetensors")
    ids = torch.tensor(model.tag_ids())
    rows = {"token_ids": ids, "embed_tokens": llm.get_input_embeddings()(ids).detach().contiguous()}
    head = llm.get_output_embeddings()
    if head is not None:
        rows["lm_head"] = _head_rows(head, ids, rows["embed_tokens"].shape[1])
    save_file(rows, out / "tag_embeddings.safetensors")
    trainable = {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    save_file(trainable, out / "trainable.safetensors")
    model.tokenizer.save_pretrained(out / "tokenizer")
    (out / "config.yaml").write_text(to_yaml(cfg))
