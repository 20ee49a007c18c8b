"""Shared fixtures: a tiny spoken corpus built once per session, smoke configs, the real LibriSpeech clip."""

from __future__ import annotations

from pathlib import Path

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub; local folders only

# `make test` runs the suite in pytest-xdist workers, one per core, files kept whole (--dist loadfile). Each worker
# gets its share of the cores: the tiny models' ops gain little from a second thread, so two one-thread workers
# finish sooner than one two-thread process (docs/any-machine.md: the suite's time). Subprocesses (CLI tests, notebook kernels)
# inherit the share through OMP_NUM_THREADS, set here whatever the shell had, so that a subprocess computes with the
# same thread count as the test comparing against it.
_THREADS = max(1, min(2, (os.cpu_count() or 2) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
os.environ["OMP_NUM_THREADS"] = str(_THREADS)
torch.set_num_threads(_THREADS)

# The longest files first, longest first (measured with `pytest --durations`, 2026-12-07): `make test` hands whole
# files to its workers in this order (--dist loadfile --no-loadscope-reorder), so no worker is left running a long
# file alone while the other has finished. Files not named keep pytest's order after these; a stale entry only costs time.
LONGEST_FILES = ("test_listen.py", "test_train.py", "test_notebooks.py", "test_ablation.py", "test_benchmarks.py",
                 "test_distributed.py", "test_loss_weighting.py", "test_dialogue.py", "test_stop_and_resume.py",
                 "test_qwen2_audio.py", "test_eval.py")

ROOT = Path(__file__).resolve().parents[1]
LIBRISPEECH = ROOT.parent / "shared" / "audio" / "librispeech-1272-128104-0000.flac"


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FILES)))  # stable: a file's tests keep their order


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A tiny English world of speech clips (8 train, 2 val, 2 test; asr + srwt lines)."""
    from qa_lab.config import WorldConfig
    from qa_lab.world import builder as world
    cfg = WorldConfig(out=str(tmp_path_factory.mktemp("world")), languages=["en"], n_train=8, n_val=2, n_test=2,
                      workers=1)
    return world.build_world(cfg, seed=0, tasks=["asr", "srwt"], progress=False)


@pytest.fixture
def smoke_overrides(corpus, tmp_path) -> list[str]:
    """Overrides that point any experiment at the session corpus and a temporary runs folder."""
    return ["smoke=true", f"data.train_manifest={corpus / 'train.jsonl'}",
            f"data.val_manifest={corpus / 'val.jsonl'}", f"runs_dir={tmp_path / 'runs'}",
            f"parts.out={corpus.parent.parent / 'parts'}",  # smoke-sized parts, made once per session
            f"data.features_dir={tmp_path / 'features'}"]


@pytest.fixture(scope="session")
def librispeech() -> Path:
    if not LIBRISPEECH.is_file():
        pytest.skip(f"{LIBRISPEECH} not present")
    return LIBRISPEECH
