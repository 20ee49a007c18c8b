import numpy as np
import pytest
import torch

from qa_lab.core.tokenizer import tiny_tokenizer
from qa_lab.data.dataset import AudioTextDataset, BucketBatchSampler, Collator, eval_batches, pack
from qa_lab.data.manifest import read_manifest
from qa_lab.frames import IGNORE
from qa_lab.prompts import tags, tasks


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def _items(tok, lengths=(301, 150)):
    return [{"mel": torch.randn(80, n), "mel_length": n, "prompt_ids": tok(tasks.prompt("asr"))["input_ids"],
             "target_ids": tok("hello there")["input_ids"], "task": "asr", "index": i}
            for i, n in enumerate(lengths)]


def test_labels_cover_only_output_text_and_eos(tok):
    batch = Collator(tok)(_items(tok))
    target = tok("hello there")["input_ids"] + [tok.eos_token_id]
    for b in range(2):
        labels = batch["labels"][b]
        kept = labels[labels != IGNORE].tolist()
        assert kept == target
        ids = batch["input_ids"][b]
        # everything before the target (audio slots, <audio>, </audio>, tags) is masked
        first = int((labels != IGNORE).nonzero()[0])
        assert tok.decode(ids[first - 1:first]) == "<|wo_itn|>"
    assert batch["audio_mask"].sum(1).tolist() == [75, 37]  # 301 mel -> 151 -> 75 frames; 150 -> 75 -> 37


def test_audio_slots_sit_between_audio_markers(tok):
    batch = Collator(tok, train=False)(_items(tok))
    start, end = tok.convert_tokens_to_ids([tags.AUDIO_START, tags.AUDIO_END])
    for b in range(2):
        ids, slots = batch["input_ids"][b], batch["audio_mask"][b]
        pos = slots.nonzero().flatten()
        assert ids[pos[0] - 1] == start and ids[pos[-1] + 1] == end
        assert batch["attention_mask"][b, -1] == 1  # left-padded for generation
    assert (batch["labels"] == IGNORE).all()


def test_tokenizer_keeps_tag_tokens_whole_and_is_deterministic(tok):
    ids = tok(tasks.prompt("srwt") + "<|0.41|>")["input_ids"]
    assert len(ids) == 6
    assert tok.decode(ids) == tasks.prompt("srwt") + "<|0.41|>"
    assert tiny_tokenizer().get_vocab() == tok.get_vocab()


def test_pack_respects_batch_seconds():
    d = np.array([1.0, 2.0, 3.0, 10.0])
    assert pack(np.arange(4), d, batch_seconds=6.0, max_batch_size=8) == [[0, 1], [2], [3]]


def _sampler(**kw):
    rng = np.random.default_rng(0)
    d = rng.uniform(1, 10, 200)
    tasks = ["asr"] * 150 + ["srwt"] * 50
    args = dict(batch_seconds=40.0, max_batch_size=16, seed=3, num_batches=30) | kw
    return BucketBatchSampler(d, tasks, **args), d, tasks


def test_sampler_is_seeded_and_resumable():
    s, _, _ = _sampler()
    full = list(s)
    assert full == list(_sampler()[0])
    assert list(_sampler(start=10, num_batches=20)[0]) == full[10:]
    assert list(_sampler(seed=4)[0]) != full


def test_sampler_shards_batches_across_ranks():
    full = list(_sampler(num_batches=20)[0])
    r0 = list(_sampler(num_batches=10, world_size=2, rank=0)[0])
    r1 = list(_sampler(num_batches=10, world_size=2, rank=1)[0])
    assert r0 == full[0::2] and r1 == full[1::2]


def test_bucketing_reduces_padding():
    def padded_fraction(sampler, d):
        real = padded = 0.0
        for b in sampler:
            real += d[b].sum()
            padded += d[b].max() * len(b)
        return 1 - real / padded
    on, d, _ = _sampler(num_batches=20)
    off, _, _ = _sampler(num_batches=20, bucket=False)
    assert padded_fraction(on, d) < 0.5 * padded_fraction(off, d)


def test_task_weights_set_the_mix():
    s, _, tasks = _sampler(task_weights={"asr": 1.0, "srwt": 3.0}, num_batches=40)
    drawn = [tasks[i] for b in s.epoch(0) for i in b]
    assert abs(drawn.count("srwt") / len(drawn) - 0.75) < 0.02
    s0, _, _ = _sampler(task_weights={"srwt": 0.0})
    assert all(tasks[i] == "asr" for b in s0 for i in b)


def test_eval_batches_cover_every_example_once():
    d = np.random.default_rng(1).uniform(1, 10, 50)
    flat = sorted(i for b in eval_batches(d, 30.0, 8) for i in b)
    assert flat == list(range(50))


def test_dataset_error_names_manifest_line(tmp_path, corpus, tok):
    exs = read_manifest(corpus / "val.jsonl")
    (tmp_path / "gone.wav").write_bytes(b"")
    exs[0]["_audio_path"] = str(tmp_path / "gone.wav")
    ds = AudioTextDataset(exs, tok)
    with pytest.raises(ValueError, match=r"val.jsonl:1 .*gone.wav"):
        ds[0]
    item = ds[1]
    assert item["mel"].shape[0] == 80 and item["mel_length"] == item["mel"].shape[1]


def test_tokenizer_that_refuses_new_specials_gets_a_clear_error(tok):
    from qa_lab.core.tokenizer import add_tag_tokens

    class Refusing:
        name_or_path = "Qwen/Qwen-7B"
        unk_token_id = None

        def get_vocab(self):
            return {}

        def add_special_tokens(self, *a, **k):
            raise ValueError("Adding unknown special tokens is not supported")

    with pytest.raises(ValueError, match="Qwen/Qwen-7B.*refuses the 33[0-9][0-9] tag tokens.*qwen2.5-7b"):
        add_tag_tokens(Refusing())


@pytest.mark.parametrize("cached", [True, False], ids=["cached-features", "mel-every-step"])
def test_a_silent_clip_in_training_is_named_or_skipped_under_skip_invalid(smoke_overrides, corpus, tmp_path, caplog,
                                                                          cached):
    """As training reads its data (the datamodule, and the frozen tower's feature cache): a silent clip, which `qa-lab
    data check` flags, is an error naming file:line, or a counted skip under data.skip_invalid, as NaN samples are."""
    import json

    import soundfile as sf

    from qa_lab.config import load_config
    from qa_lab.core.build import build_model
    from qa_lab.data.audio import AudioError
    from qa_lab.data.dataset import AudioDataModule
    from qa_lab.world.builder import build_for
    from qa_lab.train.run import feature_cache
    sf.write(tmp_path / "silent.wav", np.zeros(16000 * 5, np.float32), 16000)
    good = json.loads((corpus / "train.jsonl").read_text().splitlines()[0])
    good["audio"] = str(corpus / good["audio"])
    manifest = tmp_path / "train.jsonl"
    manifest.write_text(json.dumps(good) + "\n" + json.dumps({**good, "audio": str(tmp_path / "silent.wav")}) + "\n")

    def read(skip: bool) -> AudioDataModule:
        cfg = load_config("base", smoke_overrides + ["parts.enabled=false", "model.freeze=[audio_tower]",
                                                     f"data.train_manifest={manifest}", f"data.cache_features={cached}",
                                                     f"data.skip_invalid={skip}"])
        model = build_model(cfg)
        data = AudioDataModule(cfg, model.tokenizer, feature_cache(cfg, model), front=model.front, world=build_for)
        data.setup()
        return data, [data.train_set[i] for i in range(len(data.train_set))]

    with pytest.raises(AudioError, match=rf"{manifest}:2 .*silent.wav: silent audio \(peak below 0.0001\)"):
        read(skip=False)
    data, items = read(skip=True)
    assert (data.features is not None) == cached
    assert [it["index"] for it in items if it is not None] == [0]  # the good clip stays
    assert f"{manifest}:2" in caplog.text and "silent audio" in caplog.text and "skipped" in caplog.text


def test_srwt_spaces_trains_srwt_answers_with_a_space_before_each_word(corpus, tok):
    from qa_lab.prompts.tags import TIME_TOKENS, parse_srwt
    exs = [ex for ex in read_manifest(corpus / "train.jsonl") if ex["task"] == "srwt"][:2]
    times = set(tok.convert_tokens_to_ids(list(TIME_TOKENS)))
    for ex in exs:
        bare, spaced = (tok.decode(AudioTextDataset([ex], tok, srwt_spaces=s)[0]["target_ids"]) for s in (False, True))
        assert parse_srwt(bare) == parse_srwt(spaced) and len(parse_srwt(bare)) == len(ex["words"])
        assert " " not in bare and spaced.count(" ") == len(ex["words"])
        words = [t for t in AudioTextDataset([ex], tok, srwt_spaces=True)[0]["target_ids"] if t not in times]
        assert words == tok(" " + " ".join(w["word"] for w in ex["words"]), add_special_tokens=False)["input_ids"]
