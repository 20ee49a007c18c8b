"""Corpus adapters: public corpora in their original on-disk layout -> qa_lab JSONL manifests.

Each adapter reads one corpus as its authors distribute it and yields manifest examples (dicts) or
`Skipped` reasons (an example whose audio file is missing). `prepare` runs one and writes the manifest
atomically; `from_hf_dataset` imports a Hugging Face `datasets` dataset saved with `save_to_disk`.
Adapters never decode audio; they only check that the files exist.
"""


from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

from qa_lab.data.corpora.base import Skipped, _write
from qa_lab.data.corpora.hf import from_hf_dataset
from qa_lab.data.corpora.music import nsynth
from qa_lab.data.corpora.sound import audiocaps, clotho, clothoaqa, cochlscene, tut2017, vocalsound
from qa_lab.data.corpora.speech import aishell1, covost2, librispeech, meld
from qa_lab.errors import unknown

__all__ = ["ADAPTERS", "Skipped", "from_hf_dataset", "prepare"]

ADAPTERS: dict[str, Callable[..., Iterator[dict | Skipped]]] = {
    "librispeech": librispeech, "aishell1": aishell1, "covost2": covost2, "clotho": clotho,
    "clothoaqa": clothoaqa, "audiocaps": audiocaps, "cochlscene": cochlscene, "tut2017": tut2017,
    "vocalsound": vocalsound, "meld": meld, "nsynth": nsynth,
}



def prepare(name: str, root: str | Path, out: str | Path, split: str | None = None, **options) -> dict:
    """Read corpus `name` at `root` and write its manifest to `out` (atomically).

    Returns {"lines": n, "tasks": Counter(task -> lines), "skipped": [reason, ...]}. `split` None takes every
    split found on disk; `options` go to the adapter (e.g. pair='fr_en' for covost2).
    """
    if name not in ADAPTERS:
        raise unknown("corpus", name, list(ADAPTERS))
    adapter = ADAPTERS[name]
    accepted = [p for p in inspect.signature(adapter).parameters if p not in ("root", "split")]
    bad = [o for o in options if o not in accepted]
    if bad:
        raise ValueError(f"corpus {name!r} takes no option(s) {', '.join(bad)}; "
                         f"its options: {', '.join(accepted) or 'none'}")
    return _write(adapter(root, split, **options), out, f"{name} at {root}")
