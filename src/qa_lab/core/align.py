"""Word times from the model's own audio frames: CTC forced alignment and keyword spotting (`decode.times: ctc`).

A model trained with the auxiliary CTC loss (`model.ctc_weight`) spells what is said at its audio frames. The
Viterbi path of a transcript through those frames (the CTC topology: each token on one or more frames, blanks
between, as CTC segmentation and WhisperX's aligner use it) gives every word the frames it is spelt on, and the
word times follow from them. Keyword spotting finds the frames of one word (a grounding query) with the rest of the
clip left free: a "garbage" state before and after it scores every frame by its best token.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qa_lab.prompts import tags

NEG = -1e30


def _viterbi(emit: np.ndarray, skip: np.ndarray, n_start: int, n_end: int) -> np.ndarray | None:
    """Best path through a left-to-right chain of states: emit (T, S) log scores; a state is entered from itself,
    the one before it, or (where skip[s]) the one two before. The path starts in one of the first `n_start` states
    and ends in one of the last `n_end`. -> the state at each frame (T,), or None when no path fits in T frames."""
    T, S = emit.shape
    score = np.full(S, NEG)
    score[:n_start] = emit[0, :n_start]
    back = np.zeros((T, S), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, T):
        prev1 = np.concatenate([[NEG], score[:-1]])
        prev2 = np.where(skip, np.concatenate([[NEG, NEG], score[:-2]]), NEG)
        cand = np.stack([score, prev1, prev2])  # (3, S)
        back[t] = cand.argmax(0)
        score = cand.max(0) + emit[t]
    end = S - n_end + int(score[S - n_end:].argmax())
    if score[end] <= NEG / 2:
        return None
    path = np.empty(T, dtype=np.int64)
    path[-1] = end
    for t in range(T - 1, 0, -1):
        path[t - 1] = path[t] - back[t, path[t]]
    return path


def _chain(targets: Sequence[int], blank: int) -> tuple[list[int], np.ndarray]:
    """The CTC states of `targets`: blank, t1, blank, t2, ..., blank; and where a state may skip the one before
    it (a token after a blank, unless it repeats the token before the blank)."""
    ext = [blank]
    for t in targets:
        ext += [t, blank]
    skip = np.array([s >= 2 and ext[s] != blank and ext[s] != ext[s - 2] for s in range(len(ext))])
    return ext, skip


def token_frames(path: np.ndarray, first_token_state: int, n_tokens: int) -> list[tuple[int, int]]:
    """(first frame, last frame) each token is spelt on, from a path over a chain where token k is the state
    first_token_state + 2k."""
    spans: list[list[int]] = [[-1, -1] for _ in range(n_tokens)]
    for t, s in enumerate(path.tolist()):
        k, odd = divmod(s - first_token_state, 2)
        if not odd and 0 <= k < n_tokens:
            if spans[k][0] < 0:
                spans[k][0] = t
            spans[k][1] = t
    return [(a, b) for a, b in spans]


def force_align(logp: np.ndarray, targets: Sequence[int], blank: int) -> list[tuple[int, int]] | None:
    """CTC forced alignment: logp (T, V) frame log-probabilities, targets the transcript's token ids ->
    (first frame, last frame) per token, or None when the frames are too few to spell it."""
    if not len(targets):
        return []
    ext, skip = _chain(targets, blank)
    path = _viterbi(logp[:, ext], skip, n_start=2, n_end=2)
    return None if path is None else token_frames(path, 1, len(targets))


def spot(logp: np.ndarray, targets: Sequence[int], blank: int) -> tuple[int, int] | None:
    """Keyword spotting: the frames (first, last) where `targets` are spelt, anywhere in the clip. Frames before
    and after are "garbage", each scored by its best token, so the keyword goes where its own tokens come closest
    to being each frame's best. None when the clip has fewer frames than the keyword needs."""
    if not len(targets):
        return None
    ext, skip = _chain(targets, blank)
    garbage = logp.max(1, keepdims=True)
    emit = np.concatenate([garbage, logp[:, ext], garbage], 1)  # garbage, blank, t1, ..., blank, garbage
    skip = np.concatenate([[False], skip, [True]])
    skip[2] = True  # garbage -> the first token, no blank between
    path = _viterbi(emit, skip, n_start=3, n_end=3)
    if path is None:
        return None
    spans = token_frames(path, 2, len(targets))
    return spans[0][0], spans[-1][1]


def word_tokens(offsets: Sequence[tuple[int, int]], text: str) -> list[int]:
    """Which word (index in text.split()) each token belongs to, from the tokenizer's character offsets; a token
    of spaces only belongs to the word after it."""
    starts, pos = [], 0
    for w in text.split():
        pos = text.index(w, pos)
        starts.append(pos)
        pos += len(w)
    out = []
    for a, b in offsets:
        a = next((c for c in range(a, b) if not text[c].isspace()), b)  # first non-space character
        out.append(max(int(np.searchsorted(starts, a, side="right")) - 1, 0))
    return out


def _roomy(fn, logp: np.ndarray, ids: Sequence[int], blank: int):
    """fn(frames, ids, blank) on the frames, or on each frame read 2 or 4 times when that finds nothing: fast speech
    can have more tokens than frames (12.5 frames/s on the CPU scales, tokens of a few letters) -> (result, r)."""
    for r in (1, 2, 4):
        out = fn(np.repeat(logp, r, 0) if r > 1 else logp, ids, blank)
        if out is not None:
            return out, r
    return None, 1


def word_times(logp: np.ndarray, text: str, tokenizer, frame_seconds: float, blank: int) -> list[tags.Word] | None:
    """The words of `text` timed by its forced alignment to the frames -> tags.Word per word, or None (no words,
    or no alignment).

    A word spans from halfway between the last frame of the word before it and its own first frame to halfway
    between its last frame and the next word's first: where a frame-level speller's boundary is on average (on
    oracle transcripts of the world's test split, word start + end error 0.09 s at 0.08 s frames, measured in
    experiments/results/srwt-cpu-evidence/). The first word starts half a frame before its first frame, the last
    ends at the end of its last frame."""
    words = text.split()
    if not words:
        return None
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    spans, r = _roomy(force_align, logp, ids, blank)
    if spans is None:
        return None
    owner = word_tokens(enc["offset_mapping"], text)
    first = [min(spans[k][0] for k in range(len(ids)) if owner[k] == i) for i in range(len(words))]
    last = [max(spans[k][1] for k in range(len(ids)) if owner[k] == i) for i in range(len(words))]
    bounds = [max(first[0] - 0.5, 0.0)] + [(last[i] + 1 + first[i + 1]) / 2 for i in range(len(words) - 1)]
    bounds.append(last[-1] + 1.0)
    t = [round(b * frame_seconds / r, 2) for b in bounds]
    return [tags.Word(w, t[i], t[i + 1]) for i, w in enumerate(words)]


def _norm(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())


def ground(logp: np.ndarray, text: str, query: str, tokenizer, frame_seconds: float,
           blank: int) -> list[tuple[float, float]]:
    """The span(s) of `query` in a clip whose transcript (decoded) is `text`: every word of the timed transcript
    equal to the query (case and punctuation aside); when the transcript misses it, the words around where the
    frames spell the query best (keyword spotting), or those frames alone. [] when neither finds it."""
    timed = word_times(logp, text, tokenizer, frame_seconds, blank) or []
    hits = [(w.start, w.end) for w in timed if _norm(w.word) == _norm(query)]
    if hits:
        return hits
    ids = tokenizer(" " + query.strip(), add_special_tokens=False)["input_ids"]
    found, r = _roomy(spot, logp, ids, blank)
    if found is None:
        return []
    a, b = found[0] * frame_seconds / r, (found[1] + 1) * frame_seconds / r
    near = [(w.start, w.end) for w in timed if w.end > a and w.start < b]
    if near:
        return [(near[0][0], near[-1][1])]
    return [(round(a, 2), round(b, 2))]
