"""Loading a checkpoint or an export never runs code it carries, and a broken file is named, not a traceback."""

import contextlib
import errno
import os
import pathlib

import pytest
import torch

from qa_lab.config import load_config, to_yaml
from qa_lab.core import checkpoint, weights
from qa_lab.errors import CannotWrite


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
    for read in (weights.trained_weights, checkpoint.load_checkpoint):
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
    assert torch.equal(weights.trained_weights(good)["x"], torch.arange(100_000.0))
    for path, why in ((empty, "empty"), (cut, "truncated or corrupt"), (text, "truncated or corrupt"),
                      (foreign, "not a Lightning checkpoint")):
        with pytest.raises(ValueError, match=f"{path}: .*{why}"):
            weights.trained_weights(path)


@pytest.mark.parametrize("allow", [False, True])
def test_a_loaded_config_cannot_turn_on_remote_code(tmp_path, monkeypatch, allow):
    cfg = load_config("base", ["model.trust_remote_code=true"])
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    (tmp_path / "run" / "tokenizer").mkdir(parents=True)  # the run folder's tokenizer, loaded with the checkpoint
    ckpt.parent.mkdir()
    torch.save({"state_dict": {}, "qa_lab_config": to_yaml(cfg)}, ckpt)
    export = tmp_path / "export"
    for part in ("tokenizer", "trainable.safetensors"):
        (export / part).mkdir(parents=True)
    (export / "config.yaml").write_text(to_yaml(cfg))
    seen = []

    def build_model(cfg, tokenizer=None):
        seen.append(cfg.model.trust_remote_code)
        raise RuntimeError("stop before building")

    monkeypatch.setattr(checkpoint, "build_model", build_model)
    asked = []  # the tokenizer's trust_remote_code, always said (None lets an auto_map ask y/N on stdin)
    monkeypatch.setattr(checkpoint, "AutoTokenizer", type("T", (), {"from_pretrained": staticmethod(
        lambda p, **kw: asked.append(kw["trust_remote_code"]))}))
    for source in (ckpt, export):
        with pytest.raises(RuntimeError, match="stop before building"):
            checkpoint.load(source, trust_remote_code=allow)
    assert seen == [allow, allow] and asked == [allow, allow]


def test_a_tokenizer_that_carries_code_is_loaded_without_asking_and_without_running_it(tmp_path, monkeypatch):
    import json

    from qa_lab.core.tokenizer import tiny_tokenizer
    export = tmp_path / "export"
    tiny_tokenizer().save_pretrained(export / "tokenizer")
    config = export / "tokenizer" / "tokenizer_config.json"
    marker = tmp_path / "ran"
    (export / "tokenizer" / "planted.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
        "from transformers import PreTrainedTokenizerFast\nclass Planted(PreTrainedTokenizerFast): pass\n")
    planted = {k: v for k, v in json.loads(config.read_text()).items() if k != "tokenizer_class"}
    config.write_text(json.dumps({**planted, "auto_map": {"AutoTokenizer": [None, "planted.Planted"]}}))
    (export / "config.yaml").write_text(to_yaml(load_config("base")))
    (export / "trainable.safetensors").write_bytes(b"")
    prompts = []
    monkeypatch.setattr("builtins.input", lambda text="": prompts.append(text) or "y")  # a user who says yes
    with pytest.raises(ValueError, match=rf"{export / 'tokenizer'}: this tokenizer names code of its own .* runs only "
                                         "with --trust-remote-code"):
        checkpoint.load(export)
    assert prompts == [] and not marker.exists()


def test_every_from_pretrained_in_the_kit_says_whether_remote_code_may_run():
    import ast
    src = pathlib.Path(checkpoint.__file__).parents[1]
    silent = [f"{f.relative_to(src)}:{node.lineno}" for f in sorted(src.rglob("*.py"))
              for node in ast.walk(ast.parse(f.read_text()))
              if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "from_pretrained"
              and not any(k.arg == "trust_remote_code" for k in node.keywords)]
    assert silent == []  # transformers' default (None) asks y/N on stdin when a folder's config carries an auto_map


@contextlib.contextmanager
def _file_size_limit(nbytes: int):
    """A real EFBIG: no file of this process may grow past `nbytes` (Python ignores SIGXFSZ, so the write fails)."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _disk_full(obj, f):
    f.write(b"\x80\x02partial")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("fault, why", [("ENOSPC", "no space left on device"), ("EFBIG", "file too large")])
def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch, fault, why):
    io = checkpoint.AtomicCheckpointIO()
    last = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"model.x": torch.ones(3)}}, last)
    before = last.read_bytes()
    if fault == "ENOSPC":
        monkeypatch.setattr(torch, "save", _disk_full)
    with _file_size_limit(4 << 20) if fault == "EFBIG" else contextlib.nullcontext():
        with pytest.raises(CannotWrite, match=rf"^cannot write {last}: {why}.* \({fault}\); the previous last.ckpt is "
                                              "kept whole$"):
            io.save_checkpoint({"state_dict": {"model.x": torch.zeros(4 << 20)}}, last)  # 16 MiB
    assert last.read_bytes() == before and sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]
    assert torch.equal(weights.trained_weights(last)["x"], torch.ones(3))


def test_a_folder_turned_read_only_mid_save_names_the_checkpoint_not_the_clean_up(tmp_path, monkeypatch):
    """Root writes through chmod, so the read-only folder is planted: it refuses the rename and the clean-up."""
    io = checkpoint.AtomicCheckpointIO()
    last = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"state_dict": {"model.x": torch.ones(3)}}, last)
    before = last.read_bytes()

    def refused(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    monkeypatch.setattr(checkpoint.os, "replace", refused)
    monkeypatch.setattr(pathlib.Path, "unlink", refused)
    with pytest.raises(CannotWrite, match=rf"^cannot write {last}: permission denied \(EACCES\); the previous "
                                          "last.ckpt is kept whole$") as e:
        io.save_checkpoint({"state_dict": {"model.x": torch.zeros(3)}}, last)
    assert isinstance(e.value.__cause__, PermissionError) and e.value.__cause__.filename.endswith(".tmp-" + str(
        os.getpid()))  # the rename, not the clean-up
    assert last.read_bytes() == before


@pytest.mark.slow  # trains two steps, then resumes
def test_a_run_folder_turned_read_only_mid_run_names_the_checkpoint_it_could_not_write(smoke_overrides, tmp_path,
                                                                                        monkeypatch):
    from qa_lab.train.run import train
    over = smoke_overrides + ["trainer.max_steps=2", "trainer.val_every_n_steps=100"]
    run, _ = train(load_config("demo", over), report_examples=0)
    kept = {p: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    real_replace, real_unlink = os.replace, pathlib.Path.unlink

    def replace(src, dst):  # a read-only run folder refuses renames into it, and deletions from it
        if str(dst).startswith(str(run)):
            raise PermissionError(errno.EACCES, "Permission denied", str(src))
        return real_replace(src, dst)

    def unlink(path, missing_ok=False):
        if str(path).startswith(str(run)) and path.exists():
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_unlink(path, missing_ok=missing_ok)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(pathlib.Path, "unlink", unlink)
    with pytest.raises(CannotWrite, match=rf"^cannot write {run / 'checkpoints' / 'step4.ckpt'}: permission denied"):
        train(load_config("demo", over + ["trainer.max_steps=4"]), resume=run / "checkpoints" / "last.ckpt",
              report_examples=0)
    assert {p: p.read_bytes() for p in kept} == kept and list((run / "logs").glob("metrics.before-resume-*.csv"))


def test_training_writes_checkpoints_through_the_atomic_writer(smoke_overrides, tmp_path):
    from qa_lab.train.trainer import trainer_for
    cfg = load_config("base", smoke_overrides)
    trainer = trainer_for(cfg, tmp_path)
    assert isinstance(trainer.strategy.checkpoint_io, checkpoint.AtomicCheckpointIO)


class _Shell:
    """A pickle that would run a shell command: os.system, whose module torch's unpickler blocks outright (it words
    that refusal differently: "Trying to load unsupported GLOBAL posix.system whose module posix is blocked")."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_that_would_call_a_blocked_module_is_refused_not_called_corrupt(tmp_path):
    marker = tmp_path / "ran"
    bad = tmp_path / "shell.ckpt"
    torch.save({"state_dict": {"model.x": torch.zeros(2)}, "payload": _Shell(marker)}, bad)
    with pytest.raises(ValueError, match=rf"{bad}: refused: .*unsupported GLOBAL \w+\.system") as e:
        weights.trained_weights(bad)
    assert "corrupt" not in str(e.value) and not marker.exists()
