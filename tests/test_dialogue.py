"""Dialogue manifest lines (the chat stage): parsing and errors, ChatML rendering with several audios, labels on
assistant turns only, batched decoding of the next turn, and a tiny model that learns a few dialogues by heart."""

import json

import pytest
import torch


def _corpus_clips(corpus, k=3):
    return [json.loads(line)["audio"] for line in (corpus / "train.jsonl").read_text().splitlines()[:k]]


def _write(path, lines):
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def _dialogues(corpus, tmp_path):
    """A 3-turn, 2-audio dialogue (placeholders), the same in typed parts, and a text-only one."""
    a, b = (str(corpus / p) for p in _corpus_clips(corpus, 2))
    lines = [
        {"messages": [{"role": "user", "content": "<audio>what is said?"},
                      {"role": "assistant", "content": "one two"},
                      {"role": "user", "content": "and now? <audio>"},
                      {"role": "assistant", "content": "three"},
                      {"role": "user", "content": "which came first?"},
                      {"role": "assistant", "content": "audio 1"}],
         "audios": [a, b]},
        {"messages": [{"role": "user", "content": [{"type": "audio", "audio": a}, {"type": "text", "text": "what is said?"}]},
                      {"role": "assistant", "content": "one two"},
                      {"role": "user", "content": [{"type": "text", "text": "and now? "}, {"type": "audio", "audio": b}]},
                      {"role": "assistant", "content": "three"},
                      {"role": "user", "content": "which came first?"},
                      {"role": "assistant", "content": "audio 1"}]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "say hi"},
                      {"role": "assistant", "content": "hi"}]},
    ]
    return _write(tmp_path / "chat.jsonl", lines)


@pytest.fixture
def chat_model(smoke_overrides):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    cfg = load_config("demo", smoke_overrides + ["data.tasks=[chat]", "stage=sft", "lora.dropout=0.0"])
    return cfg, build_model(cfg)


def test_both_content_forms_read_alike_and_render_with_audio_labels_and_assistant_labels(corpus, tmp_path,
                                                                                       chat_model):
    from qa_lab.data.dataset import AudioTextDataset, Collator
    from qa_lab.data.manifest import read_manifest
    from qa_lab.frames import pooled_lengths
    cfg, model = chat_model
    exs = read_manifest(_dialogues(corpus, tmp_path))
    assert exs[0]["_turns"] == exs[1]["_turns"] and exs[0]["task"] == "chat" and len(exs[0]["_audio_paths"]) == 2
    tok = model.tokenizer
    ds = AudioTextDataset(exs, tok, cfg.tags.format, model.front)
    batch = Collator(tok, model.pool_stride, train=True, markers=model.front.markers)([ds[0], ds[2]])
    assert batch["mel"].shape[0] == 2 and batch["mel_lengths"].tolist() == ds[0]["mel_length"]  # 2 clips, 1 row

    ids, labels, slots = batch["input_ids"][0], batch["labels"][0], batch["audio_mask"][0]
    # each audio's slots, in order, right after its "Audio k:" label and the audio marker
    runs = torch.nonzero(torch.diff(slots.int()) == 1).flatten().tolist()
    assert len(runs) == 2 and int(slots.sum()) == int(pooled_lengths(batch["mel_lengths"], model.pool_stride).sum())
    for k, start in enumerate(runs, 1):
        assert tok.decode(ids[:start + 1]).endswith(f"Audio {k}:<audio>")
    # labels: every assistant turn's text and its <|im_end|>, nothing of the user's or the system's
    said = tok.decode(labels[labels != -100])
    assert said == "one two<|im_end|>three<|im_end|>audio 1<|im_end|>"
    # the text-only dialogue in the same batch: no audio slots, its own system turn, its answer labelled
    assert not batch["audio_mask"][1].any() and tok.decode(batch["labels"][1][batch["labels"][1] != -100]) == "hi<|im_end|>"
    assert "Be brief." in tok.decode(batch["input_ids"][1]) and "helpful assistant" not in tok.decode(batch["input_ids"][1])
    out = model(batch)
    assert torch.isfinite(out["loss"]) and out["n_tokens"].tolist() == (batch["labels"] != -100).sum(1).tolist()


@pytest.mark.parametrize("line, message", [
    ({"messages": [{"role": "user", "content": "<audio><audio>hi"}, {"role": "assistant", "content": "x"}],
      "audios": ["A"]}, "2 <audio> placeholder\\(s\\) but 1 audio\\(s\\)"),
    ({"messages": [{"role": "assistant", "content": "hello"}, {"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "x"}]}, "turn 1: an assistant turn comes before any user turn"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]},
     "turn 2: unknown role 'bot'"),
    ({"messages": [{"role": "user", "content": "<audio>hi"}, {"role": "assistant", "content": "x"}],
      "audios": ["missing.wav"]}, "audio 1 \\(turn 1\\): .*missing.wav: audio file not found"),
])
def test_bad_dialogues_name_file_line_and_turn(corpus, tmp_path, line, message):
    from qa_lab.data.manifest import ManifestError, read_manifest
    a = str(corpus / _corpus_clips(corpus, 1)[0])
    line = json.loads(json.dumps(line).replace('"A"', json.dumps(a)))
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path = _write(tmp_path / "bad.jsonl", [good, line])
    with pytest.raises(ManifestError, match=f"bad.jsonl:2: {message}"):
        read_manifest(path)


def test_the_next_assistant_turn_decodes_alike_batched_and_one_by_one(corpus, tmp_path, chat_model):
    from qa_lab.eval.decode import run
    from qa_lab.data.manifest import read_manifest
    cfg, model = chat_model
    exs = read_manifest(_dialogues(corpus, tmp_path))
    model.eval()
    together = run(model, cfg, exs, max_new_tokens=6, num_beams=1)
    alone = [run(model, cfg, [ex], max_new_tokens=6, num_beams=1)[0] for ex in exs]
    assert together == alone


@pytest.mark.slow  # a hundred-odd steps of the tiny model: ~30 s
def test_the_tiny_model_learns_multi_turn_multi_audio_dialogues_until_its_answers_are_exact(corpus, tmp_path,
                                                                                          smoke_overrides):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.data.dataset import AudioTextDataset, Collator
    from qa_lab.prompts.chatml import answer
    from qa_lab.data.manifest import read_manifest
    from qa_lab.eval.decode import run
    a, b, c = (str(corpus / p) for p in _corpus_clips(corpus, 3))
    turn = lambda role, text: {"role": role, "content": text}  # noqa: E731
    lines = [
        {"messages": [turn("user", "<audio>first clip"), turn("assistant", "noted"),
                      turn("user", "<audio>second clip, which was longer?"), turn("assistant", "audio 2")],
         "audios": [a, b]},
        {"messages": [turn("user", "<audio>compare with <audio>"), turn("assistant", "both speech"),
                      turn("user", "same speaker?"), turn("assistant", "no")], "audios": [c, a]},
        {"messages": [turn("user", "<audio>what follows?"), turn("assistant", "silence")], "audios": [b]},
        {"messages": [turn("user", "count to three"), turn("assistant", "one two three")]},
    ]
    exs = read_manifest(_write(tmp_path / "learn.jsonl", lines))
    cfg = load_config("demo", smoke_overrides + ["data.tasks=[chat]", "stage=full", "lora.dropout=0.0"])
    torch.manual_seed(0)
    model = build_model(cfg)
    ds = AudioTextDataset(exs, model.tokenizer, cfg.tags.format, model.front)
    batch = Collator(model.tokenizer, model.pool_stride, train=True, markers=model.front.markers)(
        [ds[i] for i in range(len(ds))])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    want = [answer(ex) for ex in exs]
    got = None
    for step in range(1, 301):
        model.train()
        loss = model(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 25 == 0:
            model.eval()
            got = run(model, cfg, [dict(ex) for ex in exs], num_beams=1)
            if got == want:
                break
    assert got == want, (step, float(loss), got)


@pytest.mark.slow  # a 40-step chat-stage training and two scripted sessions through the command line: ~40 s
def test_qa_lab_chat_runs_a_scripted_session_and_saves_a_dialogue_that_reads_back(corpus, tmp_path, smoke_overrides):
    import subprocess
    import sys

    from qa_lab.data.manifest import read_manifest

    def qa_lab(*args):
        out = subprocess.run([sys.executable, "-m", "qa_lab.cli", *args], capture_output=True, text=True,
                             timeout=600, cwd=tmp_path)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
        return out.stdout

    manifest = _dialogues(corpus, tmp_path)
    train = [o for o in smoke_overrides if not o.startswith("data.")] + [
        "data.tasks=[chat]", f"data.train_manifest={manifest}", f"data.val_manifest={manifest}", "stage=sft",
        f"data.features_dir={tmp_path / 'features'}", "trainer.max_steps=40", "trainer.lr=3e-3",
        "trainer.val_every_n_steps=40", "trainer.checkpoint_every_n_steps=40"]
    qa_lab("train", "demo", *train)  # enough steps to answer in words (an untrained model may answer nothing)
    (ckpt,) = (tmp_path / "runs" / "demo").glob("*/checkpoints/last.ckpt")
    a, b = (str(corpus / p) for p in _corpus_clips(corpus, 2))
    script = tmp_path / "turns.txt"
    script.write_text(f"/audio {a}\nwhat is said?\n/audio {b}\n/audio {tmp_path / 'nope.wav'}\nand here?\n"
                      f"/bogus\n/save {tmp_path / 'saved.jsonl'}\n/reset\nhello\n")
    out = qa_lab("chat", str(ckpt), "--script", str(script), "--max-new-tokens", "5")
    greedy = tmp_path / "greedy.txt"
    greedy.write_text(f"/audio {a}\nwhat is said?\nand then?\n")
    streamed = qa_lab("chat", str(ckpt), "--script", str(greedy), "--max-new-tokens", "5", "--num-beams", "1")
    assert streamed.count("assistant> ") == 2 and "[error:" not in streamed  # streamed token by token
    assert out.count("assistant> ") == 3, out
    assert out.count("[error:") == 1 and "nope.wav: audio file not found" in out  # said, and the session went on
    assert "unknown command '/bogus'" in out
    (saved,) = read_manifest(tmp_path / "saved.jsonl")  # the two turns before /reset, clips and all
    assert [r for r, _ in saved["_turns"]] == ["user", "assistant", "user", "assistant"]
    assert saved["_audio_paths"] == [a, b]


def test_chat_refuses_a_model_that_never_saw_a_dialogue(smoke_overrides):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.eval.chat import ChatSession
    cfg = load_config("demo", smoke_overrides)
    with pytest.raises(ValueError, match="not trained on dialogues"):
        ChatSession(build_model(cfg), cfg)


def test_the_world_makes_dialogues_whose_answers_follow_from_the_clips(tmp_path):
    from qa_lab.config import WorldConfig
    from qa_lab.data.manifest import read_manifest
    from qa_lab.world import builder as world
    kinds = ["chat_followup", "chat_scene", "chat_compare", "chat_speakers", "chat_text"]
    cfg = WorldConfig(out=str(tmp_path), languages=["en", "de"], n_train=6, n_val=2, n_test=8, workers=1)
    root = world.build_world(cfg, seed=0, tasks=["asr", "asc", *kinds], progress=False)
    exs = read_manifest(root / "test.jsonl")  # every line reads back, dialogues included
    assert {ex["task"] for ex in exs} == {"asr", "asc", *kinds}
    facts = {ex["audio"]: ex for ex in exs if "audio" in ex}  # the clips' own lines: what the answers must follow
    assert all(sum(ex["task"] == k for ex in exs) == 8 for k in kinds)
    for ex in (e for e in exs if "messages" in e):
        said = [m["content"] for m in ex["messages"]]
        clips = [facts[a] for a in ex["audios"]]
        if ex["task"] == "chat_followup":  # the word after the quoted one, in the clip's transcript
            words, w = clips[0]["text"].split(), said[2].split('"')[1]
            assert said[1] == clips[0]["text"] and words[words.index(w) + 1] == said[3]
        elif ex["task"] == "chat_scene":  # "it" is the sound the first question named
            labels = [e["label"] for e in clips[0]["events"]]
            x = said[0].split("is there a ")[1].split(" in the")[0]
            if "after it" in said[2]:
                assert labels[labels.index(x) + 1] == said[3]
            else:
                assert said[3] == ("zero one two three four five".split())[labels.count(x)]
        elif ex["task"] == "chat_compare":  # exactly the named clip has the sound
            x = said[0].split("which clip has a ")[1].rstrip("?")
            has = [any(e["label"] == x for e in c["events"]) for c in clips]
            assert has.count(True) == 1 and said[1] == f"audio {has.index(True) + 1}"
        elif ex["task"] == "chat_speakers":  # two languages in this world: the question is about language
            a, b = (c["audio_lang"] for c in clips)
            assert said[3] == ("yes" if a == b else "no") and "language" in said[2]
        else:
            assert not clips and said[1] in "zero one two three four five six seven eight".split()


@pytest.mark.slow  # a 3-step multitask run, then the chat model built from it: ~20 s
def test_a_chat_stage_starts_from_every_row_the_multitask_run_trained(smoke_overrides):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.core.checkpoint import load_checkpoint
    from qa_lab.train.run import train
    run_dir, _ = train(load_config("demo", smoke_overrides + ["stage=full"]), verbose=False)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    _, before = load_checkpoint(ckpt)
    chat = build_model(load_config("demo", smoke_overrides + ["data.tasks=[chat, asr]", "stage=full", f"init_from={ckpt}"]))
    for get in (lambda m: m.language_model.get_input_embeddings().weight,
                lambda m: m.language_model.get_output_embeddings().weight):
        old, new = get(before), get(chat)
        assert new.shape[0] > old.shape[0] and new.shape[0] % 64 == 0  # ChatML's rows, padded to 64
        assert torch.equal(new[:old.shape[0]], old)  # the token table and head as trained, not the random start


def test_dialogue_listening_scores_the_last_answer_and_splits_its_attention_by_clip(corpus, tmp_path, chat_model):
    from qa_lab.data.manifest import read_manifest
    from qa_lab.study.introspection import batch_for, clip_attention, dialogue_listening, last_answer_only
    cfg, model = chat_model
    a, b, c = (str(corpus / p) for p in _corpus_clips(corpus, 3))
    turn = lambda role, text: {"role": role, "content": text}  # noqa: E731
    two = lambda clips, last: {"messages": [turn("user", "<audio>first"), turn("assistant", "one two"),  # noqa: E731
                                            turn("user", "<audio>which?"), turn("assistant", last)], "audios": clips}
    exs = read_manifest(_write(tmp_path / "l.jsonl", [two([a, b], "audio 1"), two([c, a], "audio 2")]))
    labels = last_answer_only(batch_for(model, cfg, exs[:1]))["labels"][0]
    assert model.tokenizer.decode(labels[labels != -100]) == "audio 1<|im_end|>"  # the first answer is not scored
    torch.manual_seed(0)
    report = dialogue_listening(model, cfg, exs)
    assert report["loss_own"] != pytest.approx(report["loss_swapped"], abs=1e-6)  # the two swap clips
    same = read_manifest(_write(tmp_path / "s.jsonl", [two([a, b], "audio 1"), two([a, b], "audio 2")]))
    again = dialogue_listening(model, cfg, same)
    assert again["loss_own"] == pytest.approx(again["loss_swapped"], abs=1e-6)  # swapping equal clips changes nothing
    per_clip = clip_attention(model, cfg, exs[0])
    assert per_clip.shape == (2,) and (per_clip > 0).all() and per_clip.sum() <= 1 + 1e-5
    assert report["attention_per_clip"] == pytest.approx(
        ((per_clip + clip_attention(model, cfg, exs[1])) / 2).round(4).tolist(), abs=1e-4)



@pytest.mark.parametrize("codes", [False, True])
def test_clip_codes_tell_a_rows_clips_apart_by_their_number(corpus, tmp_path, smoke_overrides, codes):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.frames import pooled_lengths
    from qa_lab.data.manifest import read_manifest
    from qa_lab.study.introspection import batch_for
    cfg = load_config("demo", smoke_overrides + ["data.tasks=[chat]", "stage=sft", f"model.clip_codes={codes}"])
    model = build_model(cfg).eval()
    a, b = (str(corpus / p) for p in _corpus_clips(corpus, 2))
    line = lambda clips: {"messages": [{"role": "user", "content": "<audio><audio>which?"},  # noqa: E731
                                       {"role": "assistant", "content": "audio 1"}], "audios": clips}
    exs = read_manifest(_write(tmp_path / "c.jsonl", [line([a, b]), line([b, a])]))
    batch = batch_for(model, cfg, exs)
    assert batch["clip_index"].tolist() == [0, 1, 0, 1]  # each clip's place in its row
    n_a, n_b = pooled_lengths(batch["mel_lengths"][:2], cfg.model.pool_stride).tolist()
    with torch.no_grad():
        slots = model.embed(batch)[batch["audio_mask"]]  # row 0: a, b; row 1: b, a
        model.clip_codes = False
        raw = model.embed(batch)[batch["audio_mask"]][:n_a]  # a's frames as the paper's model writes them
    first_a, second_a = slots[:n_a], slots[n_a + 2 * n_b:]
    if not codes:
        assert torch.allclose(first_a, second_a, atol=1e-5)  # a clip is its frames wherever it sits
        return
    table = model.language_model.get_input_embeddings()
    for got, k in ((first_a, 0), (second_a, 1)):  # + the code of "1" / "2" at each frame's own norm
        code = table(model.clip_ids[k])
        want = raw + code / code.norm() * raw.norm(dim=-1, keepdim=True)
        assert torch.allclose(got, want, atol=1e-4 * float(raw.norm(dim=-1).max()))
    assert model.tokenizer.convert_ids_to_tokens(model.clip_ids[:2].tolist()) == ["1", "2"]


@pytest.mark.parametrize("limit,message", [
    ("data.max_dialogue_seconds=1", r"l.jsonl:1 \(.*\): \d+\.\d s of audio, over data.max_dialogue_seconds=1"),
    (None, r"l.jsonl:1 \(.*\): \d+ positions \(turns and audio frames\), over the LLM's context of 64")])
def test_a_dialogue_over_its_audio_bound_or_the_context_is_refused_or_skipped(corpus, tmp_path, smoke_overrides,
                                                                             limit, message):
    from qa_lab.config import load_config
    from qa_lab.core.build import build_tokenizer
    from qa_lab.data.dataset import AudioDataModule
    from qa_lab.world.builder import build_for
    from qa_lab.data.manifest import ManifestError, read_manifest
    a, b = (str(corpus / p) for p in _corpus_clips(corpus, 2))
    turn = lambda role, text: {"role": role, "content": text}  # noqa: E731
    path = _write(tmp_path / "l.jsonl", [
        {"messages": [turn("user", "<audio><audio>two clips"), turn("assistant", "ok")], "audios": [a, b]},
        {"messages": [turn("user", "no audio"), turn("assistant", "ok")]}])
    for skip in (False, True):
        cfg = load_config("demo", smoke_overrides + ["data.tasks=[chat]", f"data.skip_invalid={skip}"]
                          + ([limit] if limit else []))
        data = AudioDataModule(cfg, build_tokenizer(cfg), context=None if limit else 64, world=build_for)
        exs = read_manifest(path)
        if not skip:
            with pytest.raises(ManifestError, match=message):
                data.within_limit(exs)
        else:  # skipped and counted; the text-only dialogue stays
            assert [ex["_line"] for ex in data.within_limit(exs)] == [2]


def test_data_check_and_shard_read_every_clip_of_a_dialogue(corpus, tmp_path):
    import tarfile

    import numpy as np
    import soundfile as sf

    from qa_lab.data.audio import load_audio
    from qa_lab.data.manifest import check_manifest, read_manifest
    from qa_lab.data.shard_writer import write_shards
    clips = list(dict.fromkeys(json.loads(x)["audio"] for x in (corpus / "train.jsonl").read_text().splitlines()))
    a, b = (str(corpus / p) for p in clips[:2])  # two different clips
    turn = lambda role, content: {"role": role, "content": content}  # noqa: E731
    path = _write(tmp_path / "chat.jsonl", [
        {"messages": [turn("user", "<audio>what is said?"), turn("assistant", "one"), turn("user", "and <audio>?"),
                      turn("assistant", "two")], "audios": [a, b]},
        {"messages": [turn("user", [{"type": "audio", "audio": b}, {"type": "text", "text": "and this <audio>?"}]),
                      turn("assistant", "x")], "audios": [a]},  # typed parts and a placeholder in one line
        {"messages": [turn("user", "say hi"), turn("assistant", "hi")]}])
    r = check_manifest(path)
    assert r["problems"] == [] and r["ok"] == 3 and r["formats"] == {"16000 Hz, 1 ch": 4}  # every clip decoded

    sharded = write_shards(path, tmp_path / "shards", progress=False)
    before, after = read_manifest(path), read_manifest(sharded)
    assert [ex["_turns"] for ex in after] == [ex["_turns"] for ex in before]
    assert len(tarfile.open(next(sharded.parent.glob("*.tar"))).getnames()) == 2  # each clip once, however often used
    for old, new in zip(before, after):  # each clip rewritten in its place, placeholder or typed part
        assert len(new["_audio_paths"]) == len(old["_audio_paths"]) and all(".tar/" in p for p in new["_audio_paths"])
        for p, q in zip(old["_audio_paths"], new["_audio_paths"]):
            np.testing.assert_array_equal(load_audio(p), load_audio(q))
    assert check_manifest(sharded)["problems"] == []

    # a dialogue's second clip that does not decode (NaN samples) is named on its line
    sf.write(tmp_path / "nan.wav", np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    line = json.loads(path.read_text().splitlines()[0])
    bad = _write(tmp_path / "bad.jsonl", [line, {**line, "audios": [line["audios"][0], str(tmp_path / "nan.wav")]}])
    assert [(n, "nan.wav: audio contains NaN" in p) for n, p in check_manifest(bad)["problems"]] == [(2, True)]


def test_a_dialogue_clip_that_fails_in_training_is_named_by_file_and_line(corpus, tmp_path):
    import numpy as np
    import soundfile as sf

    from qa_lab.core.tokenizer import tiny_tokenizer
    from qa_lab.data.audio import AudioError
    from qa_lab.data.dataset import AudioTextDataset
    from qa_lab.data.manifest import read_manifest, where
    sf.write(tmp_path / "nan.wav", np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    a = str(corpus / _corpus_clips(corpus, 1)[0])
    turn = lambda role, text: {"role": role, "content": text}  # noqa: E731
    path = _write(tmp_path / "d.jsonl", [
        {"messages": [turn("user", "no audio"), turn("assistant", "ok")]},
        {"messages": [turn("user", "<audio><audio>two clips"), turn("assistant", "ok")],
         "audios": [a, str(tmp_path / "nan.wav")]}])
    exs = read_manifest(path)
    assert where(exs[0]) == f"{path}:1" and where(exs[1]) == f"{path}:2 ({a}, {tmp_path / 'nan.wav'})"
    with pytest.raises(AudioError, match=rf"^{path}:2 \(.*\): .*nan.wav: audio contains NaN") as e:
        AudioTextDataset(exs, tiny_tokenizer())[1]
    assert "None" not in str(e.value)


def test_every_field_the_kit_adds_to_an_example_is_named_in_the_example_record(corpus, tmp_path):
    from qa_lab.data.manifest import read_manifest
    from qa_lab.example import KIT_FIELDS
    examples = read_manifest(corpus / "train.jsonl") + read_manifest(_dialogues(corpus, tmp_path))
    added = {k for ex in examples for k in ex if k.startswith("_")}
    assert added and added <= set(KIT_FIELDS), f"not named in qa_lab.example.Example: {sorted(added - set(KIT_FIELDS))}"
    assert {"_turns", "_audio_paths", "_audio_path", "_line"} <= added
