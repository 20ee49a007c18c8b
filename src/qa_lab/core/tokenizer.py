"""Tokenizers: the LLM's own plus the tag tokens, or a small BPE trained offline for the tiny preset."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from qa_lab.prompts.tags import CHAT_TOKENS, OUTPUT_TOKENS
from qa_lab.prompts.tasks import special_tokens

EOS = "<|endoftext|>"
PAD = "<|pad|>"
TINY_VOCAB = 1024  # BPE merges + bytes, before the special tokens
# The tiny tokenizers' training text: the built-in world's sentences and labels (world.builder.corpus_text()), kept
# as a file so the model layer reads no world code and a change to the world's grammar cannot change the tokenizer
# of checkpoints already trained. tests/test_world.py says when the world's text has moved on from it.
TINY_CORPUS = Path(__file__).with_name("tiny_corpus.txt")


def tiny_corpus() -> list[str]:
    """The lines of TINY_CORPUS: the text the tiny tokenizers are trained on."""
    return TINY_CORPUS.read_text(encoding="utf-8").splitlines()


def train_tiny_tokenizer(texts: list[str], vocab_size: int = TINY_VOCAB) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on `texts`, with EOS/PAD and every tag token as special tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    tok.add_special_tokens(list(special_tokens()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD,
                                   extra_special_tokens=None)


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """The tiny preset's tokenizer, trained on the built-in world's text (tiny_corpus(); deterministic)."""
    return train_tiny_tokenizer(tiny_corpus())


def kit_tokens(prompt_tags: bool = True) -> tuple[str, ...]:
    """The tokens the kit adds to an LLM's tokenizer: every tag token (special_tokens()), or with prompt_tags=False
    only what answers write (time tokens, note and entity tokens: a released Qwen2-Audio keeps its own prompts)."""
    return special_tokens() if prompt_tags else OUTPUT_TOKENS


def add_tag_tokens(tokenizer: PreTrainedTokenizerBase, prompt_tags: bool = True) -> list[int]:
    """Add the tag tokens (kit_tokens) the tokenizer lacks as special tokens; return the ids of all of them."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in kit_tokens(prompt_tags) if t not in vocab]
    if missing:
        try:
            tokenizer.add_special_tokens({"additional_special_tokens": missing},
                                         replace_extra_special_tokens=False)
        except ValueError as e:  # e.g. Qwen-7B's remote-code tiktoken tokenizer refuses unknown specials
            raise ValueError(f"{type(tokenizer).__name__} ({tokenizer.name_or_path}) refuses the {len(missing)} "
                             f"tag tokens as new special tokens: {e}. Use an LLM whose tokenizer is a "
                             "transformers fast tokenizer (e.g. preset whisper-large-v2+qwen2.5-7b).") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tag_token_ids(tokenizer, prompt_tags)


def add_chat_tokens(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Add ChatML's <|im_start|> and <|im_end|> (dialogues, qa_lab.data.dialogue) when the tokenizer lacks them; they
    come after every other token, so the ids of a model trained without them stay as they were. -> their ids."""
    missing = [t for t in CHAT_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
    return tokenizer.convert_tokens_to_ids(list(CHAT_TOKENS))


def chat_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Ids of ChatML's tokens when the tokenizer has them, else []."""
    vocab = tokenizer.get_vocab()
    return [vocab[t] for t in CHAT_TOKENS if t in vocab]


def tag_token_ids(tokenizer: PreTrainedTokenizerBase, prompt_tags: bool = True) -> list[int]:
    """Ids of every kit token (kit_tokens), in that order; error if the tokenizer lacks one."""
    toks = list(kit_tokens(prompt_tags))
    ids = tokenizer.convert_tokens_to_ids(toks)
    unk = tokenizer.unk_token_id
    bad = [t for t, i in zip(toks, ids) if i is None or (unk is not None and i == unk)]
    if bad:
        raise ValueError(f"tokenizer lacks {len(bad)} tag tokens, e.g. {bad[:3]}; call add_tag_tokens first")
    return ids


def load_tokenizer(name_or_path: str | Path, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """An LLM's tokenizer (hub id or folder) with the tag tokens added.

    A folder holding a plain tokenizers-library tokenizer (what train_tiny_tokenizer saves, e.g. beside the
    kit-made parts) loads as exactly that: AutoTokenizer would pick the model's tokenizer class from
    config.json (Qwen2Tokenizer, which splits digits) and tokenise some strings differently."""
    config = Path(name_or_path) / "tokenizer_config.json"
    if config.is_file() and json.loads(config.read_text()).get("tokenizer_class") in ("TokenizersBackend",
                                                                                        "PreTrainedTokenizerFast"):
        tok = PreTrainedTokenizerFast.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
        add_tag_tokens(tok)
        return tok
    tok = AutoTokenizer.from_pretrained(str(name_or_path), trust_remote_code=trust_remote_code)
    add_tag_tokens(tok)
    return tok
