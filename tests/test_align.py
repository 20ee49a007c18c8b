"""Word times from CTC frames (qa_lab.core.align): forced alignment, keyword spotting, word boundaries."""

import numpy as np
import pytest

from qa_lab.core import align

BLANK = 0


def frames(spelt: list[int], vocab: int = 8, sure: float = 0.9) -> np.ndarray:
    """Log-probabilities of frames that each say one symbol (blank = 0) with probability `sure`."""
    p = np.full((len(spelt), vocab), (1 - sure) / (vocab - 1))
    p[np.arange(len(spelt)), spelt] = sure
    return np.log(p)


def test_forced_alignment_finds_the_frames_each_token_is_spelt_on():
    #        t: 0  1  2  3  4  5  6  7  8
    lp = frames([0, 3, 3, 0, 0, 5, 0, 5, 0])
    assert align.force_align(lp, [3, 5, 5], BLANK) == [(1, 2), (5, 5), (7, 7)]


def test_a_repeated_token_needs_a_blank_between_and_too_few_frames_align_nothing():
    assert align.force_align(frames([5, 5]), [5, 5], BLANK) is None  # no blank to separate the two
    assert align.force_align(frames([5, 0, 5]), [5, 5], BLANK) == [(0, 0), (2, 2)]
    assert align.force_align(frames([3]), [3, 4], BLANK) is None


def test_keyword_spotting_finds_the_keyword_among_other_tokens():
    lp = frames([0, 1, 2, 0, 6, 7, 0, 1, 2, 0])
    assert align.spot(lp, [6, 7], BLANK) == (4, 5)
    assert align.spot(lp, [1, 2], BLANK) in ((1, 2), (7, 8))
    assert align.spot(frames([0, 6, 7]), [6, 7], BLANK) == (1, 2)  # at the clip's end


class Letters:
    """A tokenizer of single characters (' ' included) with offsets, ids from 1 (0 is the blank)."""

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False):
        out = {"input_ids": [ord(c) - 95 if c != " " else 1 for c in text]}
        if return_offsets_mapping:
            out["offset_mapping"] = [(i, i + 1) for i in range(len(text))]
        return out


def test_word_tokens_give_a_space_to_the_word_after_it():
    assert align.word_tokens([(0, 2), (2, 3), (3, 5), (5, 6), (6, 8)], "ab cd ef") == [0, 1, 1, 2, 2]


def test_word_times_put_boundaries_halfway_between_words():
    tok = Letters()
    ids = tok("ab c")["input_ids"]  # a=2 b=3 ' '=1 c=4
    #           frame: 0    1    2    3  4      5  6    7
    lp = frames([0, ids[0], ids[1], 0, 0, ids[2], 0, ids[3]], vocab=8)
    words = align.word_times(lp, "ab c", tok, frame_seconds=0.1, blank=BLANK)
    assert [w.word for w in words] == ["ab", "c"]
    # ab on frames 1-2, c (with its space) on 5-7: the boundary is halfway between frame 3's start and frame 5's
    assert [(w.start, w.end) for w in words] == [(0.05, 0.4), (0.4, 0.8)]


def test_fast_speech_reads_each_frame_twice_rather_than_failing():
    tok = Letters()
    lp = frames([2, 3, 1, 4])  # 4 tokens on 4 frames with no blank: aligns as is
    assert align.word_times(lp, "ab c", tok, 0.1, BLANK) is not None
    lp = frames([2, 1, 4])  # 4 tokens, 3 frames: only at double resolution
    words = align.word_times(lp, "ab c", tok, 0.1, BLANK)
    assert words is not None and words[-1].end == pytest.approx(0.3)


def test_grounding_takes_the_querys_span_from_the_transcript_or_spots_it():
    tok = Letters()
    ids = {c: tok(c)["input_ids"][0] for c in "ab c"}
    lp = frames([0, ids["a"], ids["b"], 0, ids[" "], ids["c"], 0], vocab=8)
    assert align.ground(lp, "ab c", "c", tok, 0.1, BLANK) == [(0.35, 0.6)]
    assert align.ground(lp, "ab c", "AB", tok, 0.1, BLANK) == [(0.05, 0.35)]  # case aside
    # the transcript misheard the query ("d" for "c"): the frames that spell it best, widened to the transcript's
    # word there; with no word there, those frames alone
    assert align.ground(lp, "ab d", "c", tok, 0.1, BLANK) == [(0.35, 0.6)]
    assert align.ground(lp, "ab", "c", tok, 0.1, BLANK) == [(0.4, 0.6)]
    assert align.ground(lp, "ab", "e", tok, 0.1, BLANK) != []  # a query the frames never spell still lands somewhere
