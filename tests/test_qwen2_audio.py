"""A released Qwen2-Audio checkpoint through the kit, at exact parity with transformers' Qwen2AudioForConditionalGeneration:
a tiny random one is built with transformers and saved with its processor (a tiny tokenizer carrying Qwen2-Audio's
special tokens), loaded by the kit, and compared on identical inputs; then exported back and reloaded."""

import json

import numpy as np
import pytest
import torch

from qa_lab.frames import SAMPLE_RATE

PROMPT = "Detect the language and recognize the speech: <|en|>"  # what the kit's asr task reads in qwen2-audio format


@pytest.fixture(scope="module")
def qwen2_ckpt(tmp_path_factory):
    """A tiny random Qwen2AudioForConditionalGeneration folder with its processor, as save_pretrained writes one."""
    return _tiny_qwen2(tmp_path_factory.mktemp("qwen2-audio"))


def _tiny_qwen2(out, initializer_range: float = 0.02):
    from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor,
                              WhisperFeatureExtractor)
    from qa_lab.core.qwen2_audio import tiny_tokenizer
    tok = tiny_tokenizer()
    torch.manual_seed(0)
    cfg = Qwen2AudioConfig(
        audio_config=dict(model_type="qwen2_audio_encoder", d_model=64, encoder_layers=2, encoder_attention_heads=2,
                          encoder_ffn_dim=128, num_mel_bins=128, max_source_positions=1500),
        text_config=dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, vocab_size=len(tok),
                         max_position_embeddings=4096, tie_word_embeddings=False,
                         initializer_range=initializer_range),
        audio_token_id=tok.convert_tokens_to_ids("<|AUDIO|>"))
    Qwen2AudioForConditionalGeneration(cfg).save_pretrained(out)
    Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok).save_pretrained(out)
    return out


def _clips(librispeech, tmp_path, seconds=(1.3, 4.07, 9.6)):
    """Cuts of the shared LibriSpeech clip (1-10 s, odd sample counts) as wav files -> (paths, arrays)."""
    import soundfile as sf

    from qa_lab.data.audio import load_audio
    audio = load_audio(librispeech)
    paths, arrays = [], []
    for k, s in enumerate(seconds):
        a = audio[:int(s * SAMPLE_RATE) + 37 * k]
        paths.append(tmp_path / f"clip{k}.wav")
        sf.write(paths[-1], a, SAMPLE_RATE)
        arrays.append(a)
    return paths, arrays


def _kit(qwen2_ckpt, padding, tmp_path, *overrides):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    cfg = load_config("base", [f"model.qwen2_audio={qwen2_ckpt}", "tags.format=qwen2-audio",
                               f"model.audio_padding={padding}", "lora.dropout=0.0", f"runs_dir={tmp_path}",
                               *overrides])
    return cfg, build_model(cfg).eval()


def _kit_batch(cfg, model, paths):
    """The kit's own decoding batch (left-padded prompts) for asr examples of `paths`."""
    from qa_lab.data.dataset import AudioTextDataset, Collator
    exs = [{"audio": str(p), "_audio_path": str(p), "task": "asr", "text": "x", "_duration": 1.0, "_line": i + 1}
           for i, p in enumerate(paths)]
    ds = AudioTextDataset(exs, model.tokenizer, cfg.tags.format, model.front, with_target=False)
    return Collator(model.tokenizer, model.pool_stride, train=False, markers=model.front.markers)(
        [ds[i] for i in range(len(ds))])


def _hf_inputs(qwen2_ckpt, arrays):
    from transformers import AutoProcessor
    proc = AutoProcessor.from_pretrained(str(qwen2_ckpt))
    proc.tokenizer.padding_side = "left"
    return proc(text=[f"<|audio_bos|><|AUDIO|><|audio_eos|>{PROMPT}"] * len(arrays), audio=arrays,
                sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True)


def _kit_logits(model, batch):
    with torch.no_grad():
        return model.language_model(inputs_embeds=model.embed(batch), attention_mask=batch["attention_mask"]).logits


@pytest.mark.parametrize("padding", ["pad30", "real"])
def test_the_kit_reads_a_qwen2_audio_checkpoint_as_transformers_does(qwen2_ckpt, librispeech, tmp_path, padding):
    from transformers import Qwen2AudioForConditionalGeneration
    paths, arrays = _clips(librispeech, tmp_path)
    cfg, model = _kit(qwen2_ckpt, padding, tmp_path)
    batch = _kit_batch(cfg, model, paths)
    hf = _hf_inputs(qwen2_ckpt, arrays)
    ref_model = Qwen2AudioForConditionalGeneration.from_pretrained(str(qwen2_ckpt)).eval()
    # the same token sequence: Qwen2-Audio's markers, one slot per pooled frame (its processor's count), the prompt
    audio_id = ref_model.config.audio_token_id
    assert torch.equal(hf["input_ids"] == audio_id, batch["audio_mask"])
    assert torch.equal(torch.where(batch["audio_mask"], audio_id, batch["input_ids"]), hf["input_ids"])
    assert torch.equal(hf["attention_mask"], batch["attention_mask"])

    with torch.no_grad():
        ref = ref_model(**hf).logits
        tower = ref_model.model.audio_tower
        n = hf["feature_attention_mask"].sum(-1)
        from qa_lab.core.encoder import encode_pad30_masked
        ref_feats = encode_pad30_masked(tower, hf["input_features"], n)  # transformers' masked 30 s window
        feats, lengths = model.audio_features(batch["mel"], batch["mel_lengths"])
    got = _kit_logits(model, batch)[..., :ref.shape[-1]]
    valid = batch["attention_mask"].bool()
    feat_diff = max(float((feats[i, :k] - ref_feats[i, :k]).abs().max()) for i, k in enumerate(lengths.tolist()))
    logit_diff = float((got[valid] - ref[valid]).abs().max())
    print(f"\n{padding}: max |features - transformers'| {feat_diff:.2e} (mean |h| {ref_feats.abs().mean():.2f}), "
          f"max |logits - transformers'| {logit_diff:.2e}")
    assert feat_diff <= 1e-4 and logit_diff <= 1e-4


def test_batched_greedy_generation_gives_transformers_tokens(qwen2_ckpt, librispeech, tmp_path):
    from transformers import Qwen2AudioForConditionalGeneration
    paths, arrays = _clips(librispeech, tmp_path)
    cfg, model = _kit(qwen2_ckpt, "real", tmp_path)
    batch = _kit_batch(cfg, model, paths)
    ref_model = Qwen2AudioForConditionalGeneration.from_pretrained(str(qwen2_ckpt)).eval()
    hf = _hf_inputs(qwen2_ckpt, arrays)
    eos = model.tokenizer.eos_token_id
    with torch.no_grad():
        ref = ref_model.generate(**hf, max_new_tokens=12, do_sample=False, eos_token_id=eos, pad_token_id=eos)
        got = model.generate(batch, max_new_tokens=12)
    ref = [row[hf["input_ids"].shape[1]:].tolist() for row in ref]
    ref = [row[:row.index(eos)] if eos in row else row for row in ref]
    assert got == ref and len({tuple(r) for r in ref}) > 1  # answers differ per clip


def test_a_time_pointer_model_is_refused_by_the_qwen2_audio_export_before_anything_is_written(qwen2_ckpt, tmp_path):
    """Qwen2AudioForConditionalGeneration has no place for model.time_pointer's head: the export says so, not drops it."""
    from qa_lab.core import qwen2_audio
    _, model = _kit(qwen2_ckpt, "real", tmp_path, "stage=finetune", "model.time_pointer=true")
    assert model.time_pointer.weight.requires_grad  # a new part of the head trains in a LoRA stage, as the projector
    with pytest.raises(ValueError, match="cannot carry model.time_pointer"):
        qwen2_audio.export(model, tmp_path / "export", source=qwen2_ckpt)
    assert not (tmp_path / "export").exists()


def test_export_merges_lora_into_a_folder_transformers_loads_with_the_same_logits(qwen2_ckpt, librispeech,
                                                                                 tmp_path):
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    from qa_lab.core import qwen2_audio
    paths, arrays = _clips(librispeech, tmp_path, seconds=(2.2, 5.5))
    cfg, model = _kit(qwen2_ckpt, "real", tmp_path, "stage=finetune", "lora.encoder=true")
    torch.manual_seed(1)
    with torch.no_grad():  # a fine-tuned model's weights: LoRA, the projector and the added tokens' rows moved
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    batch = _kit_batch(cfg, model, paths)
    want = _kit_logits(model, batch)
    qwen2_audio.export(model, tmp_path / "export", source=qwen2_ckpt)

    reloaded = Qwen2AudioForConditionalGeneration.from_pretrained(str(tmp_path / "export")).eval()
    proc = AutoProcessor.from_pretrained(str(tmp_path / "export"))
    assert reloaded.config.text_config.vocab_size == want.shape[-1]
    time_token = proc.tokenizer.convert_tokens_to_ids("<|0.41|>")
    assert time_token == model.tokenizer.convert_tokens_to_ids("<|0.41|>")  # the tokens the kit added came along
    proc.tokenizer.padding_side = "left"
    hf = proc(text=[f"<|audio_bos|><|AUDIO|><|audio_eos|>{PROMPT}"] * 2, audio=arrays, sampling_rate=SAMPLE_RATE,
              return_tensors="pt", padding=True)
    with torch.no_grad():
        got = reloaded(**hf).logits
    valid = batch["attention_mask"].bool()
    assert float((got[valid] - want[valid]).abs().max()) <= 1e-4


def test_bad_qwen2_audio_inputs_name_the_path_or_key(qwen2_ckpt, tmp_path):
    from qa_lab.config import ConfigError, load_config
    from qa_lab.core import qwen2_audio
    with pytest.raises(ConfigError, match="tags.format='hierarchical'.*set tags.format=qwen2-audio"):
        load_config("base", [f"model.qwen2_audio={qwen2_ckpt}"])
    with pytest.raises(ValueError, match=f"model.qwen2_audio={tmp_path}: no config.json"):
        qwen2_audio.load_tokenizer(tmp_path)
    other = tmp_path / "whisper"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(ValueError, match="is a 'whisper' checkpoint, not qwen2_audio"):
        qwen2_audio.load_parts(other)
    # a tokenizer without Qwen2-Audio's audio tokens
    import shutil
    bare = tmp_path / "bare"
    shutil.copytree(qwen2_ckpt, bare)
    from transformers import PreTrainedTokenizerFast

    from qa_lab.core.tokenizer import tiny_tokenizer
    for f in bare.glob("tokenizer*"):
        f.unlink()
    PreTrainedTokenizerFast(tokenizer_object=tiny_tokenizer().backend_tokenizer, eos_token="<|endoftext|>").save_pretrained(bare)
    with pytest.raises(ValueError, match=f"model.qwen2_audio={bare}: its tokenizer lacks Qwen2-Audio's audio token"):
        qwen2_audio.load_tokenizer(bare)
    assert np.isfinite(1.0)


@pytest.mark.slow  # a real (2-step) LoRA fine-tune, an eval and an export through the command line: ~1 min
def test_fine_tune_evaluate_and_export_a_qwen2_audio_checkpoint_from_the_command_line(qwen2_ckpt, corpus, tmp_path):
    import subprocess
    import sys

    from transformers import Qwen2AudioForConditionalGeneration

    from qa_lab.core.checkpoint import load_checkpoint

    def qa_lab(*args):
        out = subprocess.run([sys.executable, "-m", "qa_lab.cli", *args], capture_output=True, text=True, timeout=600,
                             cwd=tmp_path)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
        return out

    zero = qa_lab("eval", str(qwen2_ckpt), "--manifest", str(corpus / "val.jsonl"), "--bootstrap", "0",
                  "--max-new-tokens", "4", "--out", str(tmp_path / "zero-shot"))  # the released folder as it is
    assert (tmp_path / "zero-shot" / "metrics.json").is_file(), zero.stdout[-500:]
    qa_lab("train", "base", f"model.qwen2_audio={qwen2_ckpt}", "tags.format=qwen2-audio", "stage=finetune",
           f"data.train_manifest={corpus / 'train.jsonl'}", f"data.val_manifest={corpus / 'val.jsonl'}",
           f"runs_dir={tmp_path / 'runs'}", "trainer.max_steps=2", "trainer.val_every_n_steps=2",
           "trainer.checkpoint_every_n_steps=2", "trainer.warmup_steps=1", "trainer.lr=1e-2",
           "trainer.val_decode_per_task=1", "data.batch_seconds=12", "trainer.accelerator=cpu")
    (run,) = list((tmp_path / "runs" / "base").iterdir())
    ckpt = run / "checkpoints" / "last.ckpt"
    out = qa_lab("eval", str(ckpt), "--manifest", str(corpus / "val.jsonl"), "--bootstrap", "0",
                 "--max-new-tokens", "4")
    assert json.loads((run / "eval" / "val" / "metrics.json").read_text()), out.stdout[-500:]
    qa_lab("export", "--format", "qwen2-audio", str(ckpt), str(tmp_path / "export"))

    cfg, model = load_checkpoint(ckpt)
    reloaded = Qwen2AudioForConditionalGeneration.from_pretrained(str(tmp_path / "export")).eval()
    ids = torch.tensor([model.tokenizer("the <|0.41|> cat", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():  # text through the merged LLM: LoRA and the added tokens' rows as trained
        want = model.language_model(input_ids=ids).logits
        got = reloaded(input_ids=ids).logits
    assert float((got - want).abs().max()) <= 1e-4


def test_the_chat_format_is_the_instruct_models_template_and_generates_its_tokens(qwen2_ckpt, librispeech, tmp_path):
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration
    paths, arrays = _clips(librispeech, tmp_path, seconds=(2.2, 6.1))
    cfg, model = _kit(qwen2_ckpt, "real", tmp_path, "tags.format=qwen2-audio-chat")
    assert model.tokenizer.eos_token == "<|im_end|>"  # answers end the assistant turn
    batch = _kit_batch(cfg, model, paths)
    proc = AutoProcessor.from_pretrained(str(qwen2_ckpt))
    proc.tokenizer.padding_side = "left"
    turn = [{"role": "user", "content": [{"type": "audio", "audio_url": "clip.wav"},
                                         {"type": "text", "text": PROMPT}]}]
    text = proc.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)  # transformers' own template
    hf = proc(text=[text] * 2, audio=arrays, sampling_rate=SAMPLE_RATE, return_tensors="pt", padding=True)
    ref_model = Qwen2AudioForConditionalGeneration.from_pretrained(str(qwen2_ckpt)).eval()
    audio_id = ref_model.config.audio_token_id
    assert torch.equal(torch.where(batch["audio_mask"], audio_id, batch["input_ids"]), hf["input_ids"])
    im_end, pad = (model.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>"))
    with torch.no_grad():
        ref = ref_model.generate(**hf, max_new_tokens=10, do_sample=False, eos_token_id=im_end, pad_token_id=pad,
                                 suppress_tokens=[pad])  # the kit never says padding
        got = model.generate(batch, max_new_tokens=10)
    ref = [row[hf["input_ids"].shape[1]:].tolist() for row in ref]
    assert got == [row[:row.index(im_end)] if im_end in row else row for row in ref] and any(got)


def test_each_released_checkpoint_reads_only_its_own_prompts():
    from qa_lab.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="set tags.format=qwen2-audio-chat"):
        load_config("base", ["model.preset=qwen2-audio-7b-instruct", "tags.format=qwen2-audio"])
    with pytest.raises(ConfigError, match="set tags.format=qwen2-audio$"):
        load_config("base", ["model.preset=qwen2-audio-7b", "tags.format=qwen2-audio-chat"])
    assert load_config("base", ["model.preset=qwen2-audio-7b-instruct", "tags.format=qwen2-audio-chat"])


def test_a_multi_turn_dialogue_reads_to_a_qwen2_audio_model_as_its_chat_template_writes_it(qwen2_ckpt, librispeech,
                                                                                          tmp_path):
    from transformers import AutoProcessor

    from qa_lab.data.manifest import read_manifest
    paths, arrays = _clips(librispeech, tmp_path, seconds=(2.2, 3.3))
    cfg, model = _kit(qwen2_ckpt, "real", tmp_path, "tags.format=qwen2-audio-chat")
    # two turns, each with its own clip, the second answer to be decoded: the prompt the kit decodes from
    turns = [{"role": "user", "content": [{"type": "audio", "audio": str(paths[0])}, {"type": "text", "text": "what is said?"}]},
             {"role": "assistant", "content": "one two"},
             {"role": "user", "content": [{"type": "audio", "audio": str(paths[1])}, {"type": "text", "text": "and here?"}]},
             {"role": "assistant", "content": "three"}]
    (tmp_path / "d.jsonl").write_text(json.dumps({"messages": turns}) + "\n")
    exs = read_manifest(tmp_path / "d.jsonl")
    from qa_lab.data.dataset import AudioTextDataset, Collator
    ds = AudioTextDataset(exs, model.tokenizer, cfg.tags.format, model.front, with_target=False)
    batch = Collator(model.tokenizer, model.pool_stride, train=False, markers=model.front.markers)([ds[0]])
    proc = AutoProcessor.from_pretrained(str(qwen2_ckpt))
    hf_turns = [{"role": t["role"], "content": [{"type": "audio", "audio_url": p["audio"]} if p.get("type") == "audio"
                                                 else p for p in t["content"]] if isinstance(t["content"], list)
                 else t["content"]} for t in turns[:-1]]
    text = proc.apply_chat_template(hf_turns, add_generation_prompt=True, tokenize=False)
    hf = proc(text=[text], audio=arrays, sampling_rate=SAMPLE_RATE, return_tensors="pt")
    audio_id = proc.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert torch.equal(torch.where(batch["audio_mask"], audio_id, batch["input_ids"]), hf["input_ids"])


def test_a_released_qwen2_audio_folder_holds_a_chat_session(qwen2_ckpt, librispeech, tmp_path):
    import io

    from qa_lab.core.checkpoint import load
    from qa_lab.data.manifest import read_manifest
    from qa_lab.eval.chat import session
    paths, _ = _clips(librispeech, tmp_path, seconds=(2.2, 3.3))
    cfg, model = load(qwen2_ckpt, chat=True)  # what `qa-lab chat FOLDER` loads: the instruct format, as it is
    out = io.StringIO()
    session(model, cfg, [f"/audio {paths[0]}", "what is said?", f"/audio {paths[1]}", "and here?",
                         f"/save {tmp_path / 'saved.jsonl'}"], out, max_new_tokens=6)
    text = out.getvalue()
    assert text.count("assistant> ") == 2 and "[error" not in text, text
    (saved,) = read_manifest(tmp_path / "saved.jsonl")
    assert saved["_audio_paths"] == [str(p) for p in paths]


@pytest.mark.slow  # a 40-step chat-stage fine-tune of the tiny released folder: ~30 s
def test_the_chat_stage_fine_tunes_a_qwen2_audio_checkpoint_on_dialogues_that_qa_lab_chat_then_holds(
        librispeech, tmp_path):
    import io

    from qa_lab.config import load_config
    from qa_lab.core.checkpoint import load
    from qa_lab.eval.chat import session
    from qa_lab.train.run import train
    # LoRA alone cannot fit the fixture's model: its random LM head (rows of std 0.02, norm 0.16, against a final
    # hidden state of norm 8) caps every logit near 1.3, and the sft stage trains no head row a word uses (measured:
    # the loss stops at 4.1 nats). A trained checkpoint's head is not so flat; rows of std 0.2 stand in for it.
    qwen2_ckpt = _tiny_qwen2(tmp_path / "released", initializer_range=0.2)
    paths, _ = _clips(librispeech, tmp_path, seconds=(2.2, 3.3))
    turn = lambda role, text: {"role": role, "content": text}  # noqa: E731
    lines = [{"messages": [turn("user", "<audio>what is this?"), turn("assistant", "a reading"),
                           turn("user", "<audio>and this one?"), turn("assistant", "another")],
              "audios": [str(p) for p in paths]},
             {"messages": [turn("user", "say ok"), turn("assistant", "ok")]}]
    manifest = tmp_path / "chat.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = load_config("base", [f"model.qwen2_audio={qwen2_ckpt}", "tags.format=qwen2-audio-chat", "stage=sft",
                               "data.tasks=[chat]", f"data.train_manifest={manifest}", f"data.val_manifest={manifest}",
                               f"runs_dir={tmp_path / 'runs'}", "lora.dropout=0.0", "trainer.max_steps=40",
                               "trainer.lr=1e-2", "trainer.warmup_steps=2", "trainer.val_every_n_steps=40",
                               "trainer.checkpoint_every_n_steps=40", "trainer.val_decode_per_task=0",
                               "trainer.accelerator=cpu"])
    run, _ = train(cfg, report_examples=1, verbose=False)
    results = json.loads((run / "results.json").read_text())
    assert results["val_loss_after"] < 0.5 * results["val_loss_before"], results
    cfg, model = load(run / "checkpoints" / "last.ckpt")  # what `qa-lab chat CKPT` loads
    from transformers import AutoTokenizer
    released = AutoTokenizer.from_pretrained(str(qwen2_ckpt))
    for t in ("<|im_start|>", "<|im_end|>"):  # the instruct model's own ChatML tokens, not rows the kit appended
        assert model.tokenizer.convert_tokens_to_ids(t) == released.convert_tokens_to_ids(t)
    out = io.StringIO()
    session(model, cfg, [f"/audio {paths[0]}", "what is this?", f"/audio {paths[1]}", "and this one?"], out,
            max_new_tokens=6)
    answers = [line.split("assistant> ", 1)[1].strip() for line in out.getvalue().splitlines()
               if line.startswith("assistant> ")]
    assert answers == ["a reading", "another"], out.getvalue()
