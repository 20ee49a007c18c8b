"""Loading a checkpoint or an export never runs code it carries, and a broken file is named, not a traceback."""

import pathlib

import pytest
import torch

from qa_lab.config import load_config, to_yaml
from qa_lab.core import checkpoint


class _Plant:
    """A pickle that creates a file when unpickled: what a hostile checkpoint would do with a shell command."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {"model.x": torch.zeros(2)}, "payload": _Plant(marker)}, bad)
    for read in (checkpoint.trained_weights, checkpoint.load_checkpoint):
        with pytest.raises(ValueError, match=rf"{bad}: refused"):
            read(bad)
    assert not marker.exists()


def test_empty_truncated_and_foreign_files_are_named(tmp_path):
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"model.x": torch.arange(100_000.0)}}, good)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "list.ckpt"
    torch.save([1, 2, 3], foreign)
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    assert torch.equal(checkpoint.trained_weights(good)["x"], torch.arange(100_000.0))
    for path, why in ((empty, "empty"), (cut, "truncated or corrupt"), (text, "truncated or corrupt"),
                      (foreign, "not a Lightning checkpoint")):
        with pytest.raises(ValueError, match=f"{path}: .*{why}"):
            checkpoint.trained_weights(path)


@pytest.mark.parametrize("allow", [False, True])
def test_a_loaded_config_cannot_turn_on_remote_code(tmp_path, monkeypatch, allow):
    cfg = load_config("base", ["model.trust_remote_code=true"])
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "qa_lab_config": to_yaml(cfg)}, ckpt)
    export = tmp_path / "export"
    for part in ("tokenizer", "trainable.safetensors"):
        (export / part).mkdir(parents=True)
    (export / "config.yaml").write_text(to_yaml(cfg))
    seen = []

    def build(cfg, tokenizer=None):
        seen.append(cfg.model.trust_remote_code)
        raise RuntimeError("stop before building")

    monkeypatch.setattr("qa_lab.core.build.build", build)
    monkeypatch.setattr(checkpoint, "AutoTokenizer", type("T", (), {"from_pretrained": staticmethod(lambda p: None)}))
    for source in (ckpt, export):
        with pytest.raises(RuntimeError, match="stop before building"):
            checkpoint.load(source, trust_remote_code=allow)
    assert seen == [allow, allow]


def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    io = checkpoint.AtomicCheckpointIO()
    last = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"model.x": torch.ones(3)}}, last)
    before = last.read_bytes()

    def disk_full(obj, f):
        f.write(b"\x80\x02partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"state_dict": {"model.x": torch.zeros(3)}}, last)
    assert last.read_bytes() == before and sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]
    assert torch.equal(checkpoint.trained_weights(last)["x"], torch.ones(3))


def test_training_writes_checkpoints_through_the_atomic_writer(smoke_overrides, tmp_path):
    from qa_lab.train.run import trainer_for
    cfg = load_config("base", smoke_overrides)
    trainer = trainer_for(cfg, tmp_path)
    assert isinstance(trainer.strategy.checkpoint_io, checkpoint.AtomicCheckpointIO)
