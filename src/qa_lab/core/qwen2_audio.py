"""Released Qwen2-Audio checkpoints in, fine-tuned ones out: a Qwen2AudioForConditionalGeneration folder (or hub id)
mapped onto AudioLLM's parts, and an AudioLLM written back as such a folder (LoRA merged) for transformers and vLLM.

The mapping is by module, not by a fork of the model class: the audio tower is transformers' Qwen2AudioEncoder
itself (AudioLLM's `tower="qwen2-audio"` pools before the final norm, as it does), `multi_modal_projector.linear`
becomes AudioLLM's linear projector, and the LLM (`model.language_model` with `lm_head`) a Qwen2ForCausalLM."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (AutoModelForCausalLM, AutoProcessor, AutoTokenizer, PreTrainedTokenizerFast, Qwen2AudioConfig,
                          Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor, WhisperFeatureExtractor)

from qa_lab.core.tokenizer import add_tag_tokens, tiny_corpus
from qa_lab.prompts import tags
from qa_lab.prompts.tasks import prompt

AUDIO_TOKENS = (tags.QWEN2_AUDIO_BOS, tags.QWEN2_AUDIO_TOKEN, tags.QWEN2_AUDIO_EOS)


def check_source(source: str | Path) -> None:
    """A clear error unless `source` is a Qwen2-Audio checkpoint: a local folder must hold a config.json of
    model_type qwen2_audio (a hub id is checked when from_pretrained reads it)."""
    path = Path(source)
    if not path.exists():
        if str(source).startswith((".", "/", "~")) or path.suffix:
            raise ValueError(f"model.qwen2_audio={source}: no such folder")
        return  # a hub id
    config = path / "config.json"
    if not config.is_file():
        raise ValueError(f"model.qwen2_audio={source}: no config.json there; expected a folder written by "
                         "Qwen2AudioForConditionalGeneration.save_pretrained")
    kind = json.loads(config.read_text()).get("model_type")
    if kind != "qwen2_audio":
        raise ValueError(f"model.qwen2_audio={source}: {config} is a {kind!r} checkpoint, not qwen2_audio "
                         "(Qwen2AudioForConditionalGeneration)")


def load_tokenizer(source: str | Path, chat: bool = False, trust_remote_code: bool = False):
    """The checkpoint's tokenizer with the tokens answers write (time tokens ...) added; an error naming the path when
    it lacks Qwen2-Audio's audio tokens. chat: answers end with <|im_end|> (tags.format qwen2-audio-chat), which
    becomes the tokenizer's end-of-sequence token, so training appends it and decoding stops on it. Code the folder
    carries runs only with `trust_remote_code` (model.trust_remote_code)."""
    check_source(source)
    tok = AutoTokenizer.from_pretrained(str(source), trust_remote_code=trust_remote_code)
    vocab = tok.get_vocab()
    missing = [t for t in AUDIO_TOKENS if t not in vocab]
    if missing:
        raise ValueError(f"model.qwen2_audio={source}: its tokenizer lacks Qwen2-Audio's audio token(s) "
                         f"{', '.join(missing)}; is it a Qwen2-Audio checkpoint's tokenizer?")
    if chat:
        if tags.IM_END not in vocab:
            raise ValueError(f"model.qwen2_audio={source}: tags.format=qwen2-audio-chat needs {tags.IM_END} in the "
                             "tokenizer, and this one lacks it")
        pad = tok.pad_token
        tok.eos_token = tags.IM_END
        tok.pad_token = pad or "<|endoftext|>"
    add_tag_tokens(tok, prompt_tags=False)
    return tok


def load_parts(source: str | Path) -> tuple[nn.Module, nn.Module, nn.Linear]:
    """(audio tower, causal LLM, projector) of a Qwen2-Audio checkpoint, with its weights, no copies made."""
    check_source(source)
    # transformers' own class: it runs no code the folder carries, whatever its config.json says
    return parts_of(Qwen2AudioForConditionalGeneration.from_pretrained(str(source), dtype="auto",
                                                                       trust_remote_code=False))


def parts_of(full) -> tuple[nn.Module, nn.Module, nn.Linear]:
    """(audio tower, causal LLM, projector) of a Qwen2AudioForConditionalGeneration in memory, sharing its weights."""
    with torch.device("meta"):  # a shell whose parts are replaced by the checkpoint's modules
        llm = AutoModelForCausalLM.from_config(full.config.text_config)
    llm.model = full.model.language_model
    llm.lm_head = full.lm_head
    llm.generation_config = full.generation_config
    llm.config = full.config.text_config
    return full.model.audio_tower, llm, full.model.multi_modal_projector.linear


SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", *AUDIO_TOKENS)


def tiny_tokenizer(extra_text: tuple[str, ...] = ()):
    """A byte-level BPE (~600 tokens) with Qwen2-Audio's special tokens and none of the kit's tags, pad = eos as in
    Qwen: what the tests and benchmarks save beside a tiny random Qwen2-Audio."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([*tiny_corpus(), prompt("asr", "qwen2-audio"), *extra_text], trainer=trainers.BpeTrainer(
        vocab_size=600, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   extra_special_tokens=None)


def export(model, out: Path, source: str | Path | None = None, trust_remote_code: bool = False) -> None:
    """Write `model` (an AudioLLM with a Qwen2-Audio tower) into `out` as a Qwen2AudioForConditionalGeneration folder
    with its processor: LoRA merged into the weights (the model is changed in place), the tokenizer with the tokens
    the kit added, the token table as trained. `source` (the checkpoint it started from) lends its processor's
    feature-extractor settings and chat template when it is reachable (its code, if any, runs only with
    `trust_remote_code`)."""
    if model.tower != "qwen2-audio":
        raise ValueError("export --format qwen2-audio needs a model started from a Qwen2-Audio checkpoint "
                         "(model.qwen2_audio or a qwen2-audio-7b preset): this one's Whisper tower norms before "
                         "pooling, which Qwen2AudioForConditionalGeneration cannot express; use the default export")
    if not isinstance(model.projector, nn.Linear):
        raise ValueError(f"export --format qwen2-audio needs model.projector=linear (Qwen2-Audio's), not "
                         f"{type(model.projector).__name__}")
    if model.time_pointer is not None:
        raise ValueError("export --format qwen2-audio cannot carry model.time_pointer (a head that scores time tokens "
                         "against the frames, which Qwen2AudioForConditionalGeneration has no place for); use the "
                         "default export")
    tower, llm = model.audio_tower, model.language_model
    if hasattr(llm, "merge_and_unload"):
        llm = llm.merge_and_unload()
    if hasattr(tower, "merge_and_unload"):
        tower = tower.merge_and_unload()
    tok = model.tokenizer
    config = Qwen2AudioConfig(audio_config=tower.config.to_dict(), text_config=llm.config.to_dict(),
                              audio_token_id=tok.convert_tokens_to_ids(tags.QWEN2_AUDIO_TOKEN))
    with torch.device("meta"):
        full = Qwen2AudioForConditionalGeneration(config)
    full.model.audio_tower = tower
    full.model.multi_modal_projector.linear = model.projector
    full.model.language_model = llm.model
    full.lm_head = llm.lm_head
    full.generation_config = llm.generation_config
    full.save_pretrained(out)
    try:
        processor = AutoProcessor.from_pretrained(str(source), trust_remote_code=trust_remote_code) if source else None
    except (OSError, ValueError):
        processor = None
    if processor is not None:
        processor.tokenizer = tok
    else:
        processor = Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(
            feature_size=tower.config.num_mel_bins), tokenizer=tok)
    processor.save_pretrained(out)
