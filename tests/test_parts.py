"""Pretrained parts: losses fall, cached and keyed by spec, hashed and verified, byte-identical, loaded by the kit."""

import json
import shutil
from dataclasses import replace

import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen2Config, WhisperConfig, WhisperModel
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.presets import PRESETS
from qa_lab.core.tokenizer import load_tokenizer, tiny_tokenizer
from qa_lab.train import parts
from qa_lab.train.parts import PartsSpec, parts_dir, parts_hash, parts_overrides, pretrain_parts, verify

SPEC = PartsSpec(encoder_steps=3, llm_steps=3, batch_size=4,
                 world_overrides={"n_train": 4, "n_val": 2, "n_test": 1, "workers": 1})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return pretrain_parts(SPEC, tmp_path_factory.mktemp("parts"), progress=False)


@pytest.fixture(scope="module")
def world_root(built):
    return built.parent / "world" / json.loads((built / "parts.json").read_text())["world"]["folder"]


@pytest.fixture
def one_thread():
    """As pretrain_parts trains (PartsSpec.threads=1); on a busy 2-core CPU also several times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _drop(losses: list[float], k: int = 5) -> tuple[float, float]:
    return sum(losses[:k]) / k, sum(losses[-k:]) / k


@pytest.mark.slow
def test_encoder_ctc_loss_falls(world_root, one_thread):
    clips = parts.asr_clips(world_root, "train", parts.char_vocab())
    assert len(clips) == 8  # asr + asr_noise, 4 clips each
    torch.manual_seed(0)
    encoder = WhisperEncoder(WhisperConfig(**PRESETS["tiny"].encoder_config))
    head = torch.nn.Linear(encoder.config.d_model, len(parts.char_vocab()) + 1)
    first, last = _drop(parts.train_ctc(encoder, head, clips, 30, 4, 2e-3, seed=0, progress=False))
    assert last < 0.5 * first, (first, last)


@pytest.mark.slow
def test_top_layers_of_a_pretrained_encoder_learn_ctc(world_root, one_thread):
    clips = parts.asr_clips(world_root, "train", parts.char_vocab())
    torch.manual_seed(0)
    encoder = WhisperEncoder(WhisperConfig(**PRESETS["tiny"].encoder_config))
    bottom = {k: v.clone() for k, v in encoder.layers[0].state_dict().items()}
    head = torch.nn.Linear(encoder.config.d_model, len(parts.char_vocab()) + 1)
    first, last = _drop(parts.train_ctc_top(encoder, head, clips, 2, 30, 4, 2e-3, seed=0, progress=False))
    assert last < 0.6 * first, (first, last)
    assert all(torch.equal(v, encoder.layers[0].state_dict()[k]) for k, v in bottom.items())  # frozen below


@pytest.mark.slow  # parts pretraining on a real-shaped Whisper
def test_a_real_whisper_is_adapted_in_its_top_layers_and_loads(tmp_path):
    torch.manual_seed(1)
    source = WhisperEncoder(WhisperConfig(**PRESETS["tiny"].encoder_config))
    parts._whisper_with(source, PRESETS["tiny"].encoder_config).save_pretrained(tmp_path / "whisper")
    spec = replace(SPEC, encoder_from=str(tmp_path / "whisper"), encoder_layers=1, encoder_clips=6, llm_steps=1)
    made = pretrain_parts(spec, tmp_path / "parts", progress=False)
    adapted = WhisperModel.from_pretrained(made / "encoder").get_encoder()
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))  # noqa: E731
    assert same(adapted.conv1, source.conv1) and same(adapted.layers[:-1], source.layers[:-1])
    assert not same(adapted.layers[-1], source.layers[-1]) and not same(adapted.layer_norm, source.layer_norm)
    cfg = load_config("base", [*parts_overrides(made), "stage=full", "model.freeze=[audio_tower]"])
    assert same(build_model(cfg).audio_tower, adapted)
    with pytest.raises(ValueError, match="parts.encoder_from"):
        PartsSpec(encoder_layers=1)


@pytest.mark.slow
def test_llm_loss_falls(world_root, one_thread):
    tok = tiny_tokenizer()
    texts = parts.world_texts(world_root, "train")
    assert "male" in texts and not any("<|" in t for t in texts)  # labels yes, tag-token targets no
    seqs = parts.text_rows(tok, texts)
    torch.manual_seed(0)
    llm = AutoModelForCausalLM.from_config(Qwen2Config(vocab_size=len(tok), **PRESETS["tiny"].llm_config))
    first, last = _drop(parts.train_lm(llm, seqs, tok.pad_token_id, 30, 8, 2e-3, seed=0, progress=False))
    assert last < first - 1.5, (first, last)


def test_parts_json_records_spec_files_and_losses(built):
    meta = json.loads((built / "parts.json").read_text())
    assert meta["spec"]["encoder_steps"] == 3 and meta["spec"]["world_overrides"]["n_train"] == 4
    assert {"encoder/model.safetensors", "llm/model.safetensors", "llm/tokenizer.json",
            "tokenizer/tokenizer.json"} <= set(meta["sha256"])
    for key in ("encoder_ctc_loss", "encoder_val_ctc_loss", "llm_loss", "llm_val_loss"):
        assert len(meta[key]) == 2 and all(x > 0 for x in meta[key]), key
    assert (built / "COMPLETE").is_file() and not list(built.parent.glob(".*tmp*"))


def test_second_call_is_cached_without_training(built, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("trained again")
    monkeypatch.setattr(parts, "train_ctc", boom)
    monkeypatch.setattr(parts, "train_lm", boom)
    assert pretrain_parts(SPEC, built.parent, progress=False) == built
    with pytest.raises(AssertionError, match="trained again"):  # the patch bites when nothing is cached
        pretrain_parts(replace(SPEC, seed=1), built.parent, progress=False)


def test_folder_is_keyed_by_spec(built):
    assert parts_dir(SPEC, built.parent) == built
    others = [replace(SPEC, seed=1), replace(SPEC, encoder_steps=4), replace(SPEC, llm_steps=4),
              replace(SPEC, lr=1e-3), replace(SPEC, batch_size=8), replace(SPEC, threads=2),
              replace(SPEC, world_overrides={**SPEC.world_overrides, "n_train": 5})]
    names = {parts_dir(s, built.parent).name for s in others}
    assert len(names) == len(others) and built.name not in names


def test_copy_rows_spell_each_text_as_a_ctc_would_and_label_only_the_copy():
    texts = [[0, *range(5 + i, 12 + i), 0] for i in range(40)]
    rows, prefixes = parts.copy_rows(texts, 0.5, blank=1, seed=0)
    assert 5 < sum(p > 0 for p in prefixes) < 35 and rows[prefixes.index(0)] in texts
    for row, text, p in zip(rows, texts, prefixes):
        if p:
            spelled = row[1:p - 1]
            collapsed = [t for i, t in enumerate(spelled) if t != 1 and (i == 0 or t != spelled[i - 1])]
            assert collapsed == text[1:-1] and row[p - 1:] == [0, *text[1:]]  # EOS, then the text itself
    batch = parts._text_batch(rows, [0, 1], 3, "cpu", prefixes)
    for b in range(2):
        assert (batch["labels"][b, :prefixes[b]] == -100).all()
        assert (batch["labels"][b, prefixes[b]:len(rows[b])] >= 0).all()


def test_copy_rows_key_the_folder_only_when_used(built):
    assert parts_dir(replace(SPEC, llm_copy=0.0), built.parent) == built  # caches made before the key stay valid
    assert parts_dir(replace(SPEC, llm_copy=0.3), built.parent) != built
    with pytest.raises(ValueError, match="llm_copy=1"):
        PartsSpec(llm_copy=1.0)


def test_encoder_batch_keys_the_folder_only_when_not_the_old_default(built):
    assert parts_dir(replace(SPEC, encoder_batch=16), built.parent) == built  # caches made before the key stay valid
    assert parts_dir(replace(SPEC, encoder_batch=4), built.parent) != built
    with pytest.raises(ValueError, match="encoder_batch=0"):
        PartsSpec(encoder_batch=0)


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match="qwen-audio-7b.*checkpoints"):
        PartsSpec(preset="qwen-audio-7b")
    with pytest.raises(ValueError, match="world_overrides.*n_trian"):
        PartsSpec(world_overrides={"n_trian": 4})
    with pytest.raises(ValueError, match="llm_steps=0"):
        PartsSpec(llm_steps=0)


def test_hash_is_stable_and_verify_names_the_changed_file(built, tmp_path):
    copy = tmp_path / built.name
    shutil.copytree(built, copy)
    assert parts_hash(copy) == parts_hash(built) and len(parts_hash(built)) == 64
    verify(copy)
    weights = copy / "llm" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"llm/model.safetensors: bytes changed"):
        verify(copy)
    (copy / "encoder" / "config.json").unlink()
    (copy / "tokenizer" / "extra.txt").write_text("x")
    with pytest.raises(ValueError, match=r"(?s)encoder/config.json: missing.*tokenizer/extra.txt: not in parts.json"):
        verify(copy)
    with pytest.raises(FileNotFoundError, match="not a complete parts folder"):
        parts_hash(tmp_path)


@pytest.mark.slow  # parts pretraining, twice
def test_same_spec_gives_the_same_bytes_and_restores_threads(built, tmp_path):
    threads = torch.get_num_threads()
    again = pretrain_parts(SPEC, tmp_path, progress=False)
    assert torch.get_num_threads() == threads
    meta = lambda p: json.loads((p / "parts.json").read_text())  # noqa: E731
    assert again.name == built.name
    assert meta(again)["sha256"] == meta(built)["sha256"]
    assert parts_hash(again) == parts_hash(built)


def test_the_kit_builds_a_model_from_the_parts(built):
    overrides = parts_overrides(built)
    assert overrides == [f"model.audio_encoder={built.resolve() / 'encoder'}",
                         f"model.language_model={built.resolve() / 'llm'}"]
    model = build_model(load_config("base", ["stage=full", *overrides]))
    saved_enc = WhisperModel.from_pretrained(built / "encoder").get_encoder().state_dict()
    saved_llm = AutoModelForCausalLM.from_pretrained(built / "llm").state_dict()
    enc, llm = model.audio_tower.state_dict(), model.language_model.state_dict()
    assert enc.keys() == saved_enc.keys() and llm.keys() == saved_llm.keys()
    assert all(torch.equal(enc[k], saved_enc[k]) for k in enc)
    assert all(torch.equal(llm[k], saved_llm[k]) for k in llm)
    random = build_model(load_config("base", ["stage=full"]))  # the comparison can fail: random init differs
    assert not torch.equal(random.audio_tower.layers[0].fc1.weight, enc["layers.0.fc1.weight"])
    assert not torch.equal(random.language_model.lm_head.weight, llm["lm_head.weight"])
    tiny = tiny_tokenizer()
    assert model.tokenizer.get_vocab() == tiny.get_vocab() == load_tokenizer(built / "tokenizer").get_vocab()
    assert (model.tokenizer.eos_token_id, model.tokenizer.pad_token_id) == (tiny.eos_token_id, tiny.pad_token_id)
    assert model.language_model.get_input_embeddings().num_embeddings == len(tiny)


def test_overrides_refuse_an_incomplete_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        parts_overrides(tmp_path)
