"""Task metrics: parity with jiwer, sacrebleu and Whisper's normaliser; hand-worked AAS, IoU, event F1, labels; bootstrap."""

import json
import math
import random
from importlib.resources import files

import jiwer
import pytest
import sacrebleu

from qa_lab.eval import metrics as M

VOCAB = ("the cat sat on a mat dog ran far away quick brown fox jumps over lazy river stone apple "
         "green house light music sound voice bird song rain wind").split()


def _random_pairs(rng: random.Random, n: int = 200) -> tuple[list[str], list[str]]:
    """Random word sequences and random substitutions, insertions and deletions of them."""
    refs, hyps = [], []
    for _ in range(n):
        ref = [rng.choice(VOCAB) for _ in range(rng.randint(1, 15))]
        hyp = list(ref)
        for _ in range(rng.randint(0, 5)):
            op = rng.choice("sid")
            if op == "s" and hyp:
                hyp[rng.randrange(len(hyp))] = rng.choice(VOCAB)
            elif op == "i":
                hyp.insert(rng.randint(0, len(hyp)), rng.choice(VOCAB))
            elif hyp:
                del hyp[rng.randrange(len(hyp))]
        refs.append(" ".join(ref))
        hyps.append(" ".join(hyp))
    return refs, hyps


# --- WER, CER, normalisation, BLEU -----------------------------------------------------------------------------

def test_wer_equals_jiwer_on_random_pairs():
    refs, hyps = _random_pairs(random.Random(0))
    assert any(r != h for r, h in zip(refs, hyps)) and any(r == h for r, h in zip(refs, hyps))
    expected = jiwer.wer(refs, hyps)
    assert 0.05 < expected < 1
    assert M.word_error_rate(refs, hyps, normalize=False) == pytest.approx(expected, rel=1e-6)
    # corpus-level: total edits / total words, which differs from the mean of per-utterance WERs
    per_utt = sum(jiwer.wer(r, h) for r, h in zip(refs, hyps)) / len(refs)
    assert abs(per_utt - expected) > 1e-3
    # normalize=True scores the normalised texts
    nr, nh = [M.normalize_english(r) for r in refs], [M.normalize_english(h) for h in hyps]
    assert M.word_error_rate(refs, hyps) == pytest.approx(jiwer.wer(nr, nh), rel=1e-6)


def test_cer_equals_jiwer_on_random_chinese_strings():
    rng = random.Random(1)
    chars = [chr(0x4E00 + k) for k in range(40)]
    refs, hyps = [], []
    for _ in range(200):
        ref = [rng.choice(chars) for _ in range(rng.randint(1, 20))]
        hyp = list(ref)
        for _ in range(rng.randint(0, 4)):
            k = rng.randint(0, len(hyp))
            hyp[k:k + rng.randint(0, 1)] = [rng.choice(chars)] * rng.randint(0, 1)
        refs.append("".join(ref))
        hyps.append("".join(hyp))
    expected = jiwer.cer(refs, hyps)
    assert 0.02 < expected < 1
    assert M.character_error_rate(refs, hyps) == pytest.approx(expected, rel=1e-6)
    spaced = [" ".join(h) + "  " for h in hyps]  # whitespace is removed before counting
    assert M.character_error_rate([" ".join(r) for r in refs], spaced) == pytest.approx(expected, rel=1e-6)


def test_normalize_english_is_whispers_normaliser():
    assert M.normalize_english("Mr. Quilter's") == "mister quilter is"  # Whisper expands "'s" to " is"
    assert M.normalize_english("Uh, the colour of $1,000!") == "the color of $1000"
    assert M.normalize_english("I'm twenty-one") == "i am 21"
    # same as transformers' own copy of OpenAI's normaliser, given the same spelling table
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer
    mapping = json.loads(files("whisper_normalizer").joinpath("normalizers/english.json").read_text())
    hf = EnglishTextNormalizer(mapping)
    for s in ("Mr. Quilter is the apostle of the middle classes, and we are glad to welcome his gospel.",
              "Dr. Smith won't go on the 2nd of May, it's 3.5% colder.", "Hmm, one thousand two hundred cats!"):
        assert M.normalize_english(s) == hf(s)
    # WER on the LibriSpeech utterance: casing, punctuation and "Mr." vanish with normalisation only
    ref = ["MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES"]
    hyp = ["Mr. Quilter's the apostle of the middle classes."]
    assert M.word_error_rate(ref, hyp) == 0.0
    assert M.word_error_rate(ref, hyp, normalize=False) == 1.0  # 8 substitutions / 8 words


def test_normalize_label():
    assert M.normalize_label("  Dog   Bark. ") == "dog bark"
    assert M.normalize_label("Yes!?") == "yes"
    assert M.normalize_label("a.m") == "a.m"  # only trailing punctuation goes


def test_bleu_equals_sacrebleu():
    refs, hyps = _random_pairs(random.Random(2), n=50)
    assert M.bleu(refs, hyps) == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    # several references per hypothesis, in varying number: sacrebleu's streams padded with None
    refs2 = [[r, r.upper()] if i % 2 else [r] for i, r in enumerate(refs)]
    streams = [refs, [r.upper() if i % 2 else None for i, r in enumerate(refs)]]
    assert M.bleu(refs2, hyps) == pytest.approx(sacrebleu.corpus_bleu(hyps, streams).score)
    zh_ref, zh_hyp = ["今天天气很好", "我们去公园散步"], ["今天天气不错", "我们去公园走走"]
    assert M.bleu(zh_ref, zh_hyp, tokenize="zh") == pytest.approx(
        sacrebleu.corpus_bleu(zh_hyp, [zh_ref], tokenize="zh").score)
    assert M.bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)


# --- AAS -------------------------------------------------------------------------------------------------------

REF3 = "<|0.00|>a<|0.50|>b<|1.00|>c<|1.50|>"  # a [0, .5], b [.5, 1], c [1, 1.5]


def test_aas_mission_example_and_exact_match():
    ref = "<|0.00|>mister<|0.41|>quilter<|0.87|>"
    out = M.average_absolute_shift([ref], [ref])
    assert out == {"aas": 0.0, "matched_words": 2, "format_errors": 0, "n": 1, "wer": 0.0}
    # hypothesis ends quilter at 0.97: mister 0 + 0, quilter |0.41-0.41| + |0.87-0.97| = 0.10 -> 0.10 / 2 = 0.05
    out = M.average_absolute_shift([ref], ["<|0.00|>mister<|0.41|>quilter<|0.97|>"])
    assert out["aas"] == pytest.approx(0.05) and out["matched_words"] == 2


def test_aas_uniform_shift():
    # every time token +0.10 s: each word |Δstart| + |Δend| = 0.20 (no halving) -> AAS 0.20
    hyp = "<|0.10|>a<|0.60|>b<|1.10|>c<|1.60|>"
    out = M.average_absolute_shift([REF3], [hyp])
    assert out["aas"] == pytest.approx(0.20) and out["matched_words"] == 3 and out["wer"] == 0.0


def test_aas_substitution_excludes_the_substituted_word():
    # b -> x (not matched, so its times do not count); a exact (0), c start 1.00 vs 1.00, end 1.50 vs 1.70 -> 0.20
    hyp = "<|0.00|>a<|0.50|>x<|1.00|>c<|1.70|>"
    out = M.average_absolute_shift([REF3], [hyp])
    assert out["matched_words"] == 2
    assert out["aas"] == pytest.approx(0.20 / 2)
    assert out["wer"] == pytest.approx(1 / 3)


def test_aas_deletion_is_skipped_by_the_alignment():
    # b missing; a [0, .5] vs [0, .6] -> 0.10; c [1, 1.5] vs [.6, 1.5] -> 0.40; (0.10 + 0.40) / 2 = 0.25
    hyp = "<|0.00|>a<|0.60|>c<|1.50|>"
    out = M.average_absolute_shift([REF3], [hyp])
    assert out["matched_words"] == 2 and out["aas"] == pytest.approx(0.25) and out["wer"] == pytest.approx(1 / 3)


def test_aas_insertion():
    # extra "uh" between a and b: a [0, .5] exact; b [.7, 1] vs [.5, 1] -> 0.20; c exact -> 0.20 / 3
    hyp = "<|0.00|>a<|0.50|>uh<|0.70|>b<|1.00|>c<|1.50|>"
    out = M.average_absolute_shift([REF3], [hyp])
    assert out["matched_words"] == 3 and out["aas"] == pytest.approx(0.20 / 3) and out["wer"] == pytest.approx(1 / 3)


def test_aas_format_errors_are_counted_and_left_out():
    good = "<|0.10|>a<|0.60|>b<|1.10|>c<|1.60|>"  # AAS 0.20 alone (uniform shift)
    for bad in ("a b c",  # no time token
                "<|0.00|>a<|0.50|><|1.00|>c<|1.50|>",  # empty word
                "<|0.00|>a<|0.90|>b<|0.50|>c<|1.50|>"):  # decreasing times
        out = M.average_absolute_shift([REF3, REF3], [good, bad])
        assert out["format_errors"] == 1 and out["n"] == 2
        assert out["matched_words"] == 3 and out["aas"] == pytest.approx(0.20)
        assert out["wer"] == pytest.approx(3 / 6)  # the bad one scores as an empty hypothesis: 3 deletions
    only_bad = M.average_absolute_shift([REF3], ["no timestamps here"])
    assert math.isnan(only_bad["aas"]) and only_bad["matched_words"] == 0 and only_bad["format_errors"] == 1


def test_aas_ignores_text_after_the_last_time_token_and_other_special_tokens():
    hyp = "<|en|><|0.00|>a<|0.50|>b<|1.00|>c<|1.50|> trailing words<|endoftext|>"
    out = M.average_absolute_shift([REF3], [hyp])
    assert out["aas"] == 0.0 and out["matched_words"] == 3 and out["format_errors"] == 0 and out["wer"] == 0.0


def test_aas_pools_over_words_not_utterances():
    # pair 1: one word shifted by 0.10 at both ends (0.20); pair 2: three exact words -> 0.20 / 4 = 0.05
    # (a mean of per-utterance AAS would be (0.20 + 0) / 2 = 0.10)
    out = M.average_absolute_shift(["<|0.00|>a<|0.50|>", REF3], ["<|0.10|>a<|0.60|>", REF3])
    assert out["aas"] == pytest.approx(0.05) and out["matched_words"] == 4


def test_aas_alignment_breaks_ties_as_the_official_evaluation():
    # "a b" vs "b a": distance 2 either way; the official backtrace prefers two substitutions -> nothing matches
    out = M.average_absolute_shift(["<|0.00|>a<|0.50|>b<|1.00|>"], ["<|0.00|>b<|0.50|>a<|1.00|>"])
    assert out["matched_words"] == 0 and math.isnan(out["aas"]) and out["wer"] == 1.0


def test_aas_reference_must_parse():
    with pytest.raises(ValueError, match="reference 1 is not SRWT"):
        M.average_absolute_shift([REF3, "plain text"], [REF3, REF3])


# --- grounding and events --------------------------------------------------------------------------------------

def test_segment_iou_hand_worked():
    assert M.segment_iou([(1.0, 3.0)], [(2.0, 4.0)]) == pytest.approx(1 / 3)  # overlap 1 / union 3
    assert M.segment_iou([(1.0, 2.0)], [(2.5, 4.0)]) == 0.0  # disjoint
    assert M.segment_iou([(1.0, 2.0)], [(2.0, 3.0)]) == 0.0  # touching
    # unions: ref [0,1] + [2,3] (2 s), hyp [0.5, 2.5] (2 s), overlap 0.5 + 0.5 -> 1 / (2 + 2 - 1)
    assert M.segment_iou([(0.0, 1.0), (2.0, 3.0)], [(0.5, 2.5)]) == pytest.approx(1 / 3)
    assert M.segment_iou([(1.0, 3.0)], [(1.0, 2.0), (1.5, 3.0)]) == pytest.approx(1.0)  # overlapping hyps merge
    assert M.segment_iou([(1.0, 3.0)], []) == 0.0


def test_grounding_scores_hand_worked():
    refs = [[[1.0, 2.0]], [[0.5, 1.0]], [[3.0, 4.0]]]
    # 1: hyp [1.1, 2.3]: overlap 0.9, union 1.3; onset 0.1, offset 0.3
    # 2: raw text, exact: IoU 1, onset 0, offset 0;  3: no spans (format error): IoU 0, no onset/offset
    out = M.grounding_scores(refs, [[[1.1, 2.3]], "<|0.50|><|1.00|>", []])
    assert out["iou"] == pytest.approx((0.9 / 1.3 + 1.0 + 0.0) / 3)
    assert out["onset_error"] == pytest.approx(0.05) and out["offset_error"] == pytest.approx(0.15)
    assert out["format_errors"] == 1 and out["n"] == 3
    assert M.grounding_scores([[[1.0, 2.0]]], ["<|1.00|>"])["format_errors"] == 1  # unparseable text


def ev(label, start, end):
    return {"label": label, "start": start, "end": end}


def test_event_f1_hand_worked():
    ref = [[ev("dog", 1.0, 2.0), ev("car", 3.0, 5.0)]]
    assert M.event_f1(ref, ref)["f1"] == 1.0
    # onset 0.1 and offset 0.2 off (boundary, inclusive): both matched; errors averaged over matches
    out = M.event_f1(ref, [[ev("dog", 1.1, 2.0), ev("car", 3.0, 5.2)]])
    assert (out["tp"], out["f1"]) == (2, 1.0)
    assert out["onset_error"] == pytest.approx(0.05) and out["offset_error"] == pytest.approx(0.1)
    # 0.21 s off: outside the tolerance
    assert M.event_f1(ref, [[ev("dog", 1.21, 2.0), ev("car", 3.0, 5.21)]])["tp"] == 0
    # the onset alone is not enough: offset 0.5 off
    assert M.event_f1([[ev("dog", 1.0, 2.0)]], [[ev("dog", 1.0, 2.5)]])["tp"] == 0
    # label mismatch (labels compared after normalize_label: "Dog." is dog)
    assert M.event_f1([[ev("dog", 1.0, 2.0)]], [[ev("cat", 1.0, 2.0)]])["f1"] == 0.0
    assert M.event_f1([[ev("dog", 1.0, 2.0)]], [[ev("Dog.", 1.0, 2.0)]])["f1"] == 1.0


def test_event_f1_duplicates_count_once_and_greedy_takes_the_closest_onset():
    # two predictions of one event: 1 TP + 1 FP -> P 1/2, R 1, F1 2/3
    out = M.event_f1([[ev("dog", 1.0, 2.0)]], [[ev("dog", 1.0, 2.0), ev("dog", 1.0, 2.0)]])
    assert (out["tp"], out["n_hyp"], out["n_ref"]) == (1, 2, 1)
    assert out["precision"] == 0.5 and out["recall"] == 1.0 and out["f1"] == pytest.approx(2 / 3)
    # both hyps within tolerance of the one ref: the one with the smaller onset error (0.05) is the match
    out = M.event_f1([[ev("dog", 1.0, 2.0)]], [[ev("dog", 1.15, 2.0), ev("dog", 0.95, 2.0)]])
    assert out["tp"] == 1 and out["onset_error"] == pytest.approx(0.05)
    # raw text hypotheses are parsed; unparseable ones are format errors with no events
    out = M.event_f1([[ev("dog", 1.0, 2.0)], [ev("car", 0.0, 1.0)]], ["<|1.00|>dog<|2.00|>", "car from 0 to 1"])
    assert (out["tp"], out["format_errors"], out["recall"]) == (1, 1, 0.5)


# --- captions --------------------------------------------------------------------------------------------------

CAPTIONS = [
    ["a dog barks loudly in the distance", "a dog is barking far away"],
    ["rain falls on a metal roof", "heavy rain hits the roof"],
    ["a car engine starts and idles", "an engine is started and runs idle"],
    ["birds chirp in a quiet forest", "several birds sing among the trees"],
    ["people talk in a busy restaurant", "a crowd chatters while dishes clink"],
    ["a door creaks open slowly", "someone slowly opens a squeaky door"],
]


def test_cider_d_identical_beats_shuffled():
    hyps = [refs[0] for refs in CAPTIONS]
    shuffled = hyps[1:] + hyps[:1]
    same, wrong = M.cider_d(CAPTIONS, hyps), M.cider_d(CAPTIONS, shuffled)
    assert same > 1.0 and wrong < 0.5 * same
    # our tokenisation: case and punctuation do not matter
    assert M.cider_d(CAPTIONS, [h.capitalize() + "." for h in hyps]) == pytest.approx(same)
    with pytest.raises(ValueError, match="at least 2"):
        M.cider_d(CAPTIONS[:1], hyps[:1])


def test_bleu4_captions_is_sacrebleu_on_tokenised_captions():
    hyps = ["A dog barks, loudly.", "rain on the roof", "an engine starts", "birds sing", "people talk", "a door"]
    streams = [[refs[k] for refs in CAPTIONS] for k in range(2)]
    expected = sacrebleu.corpus_bleu([h.lower().replace(",", "").replace(".", "") for h in hyps], streams,
                                     tokenize="none").score
    assert M.bleu4_captions(CAPTIONS, hyps) == pytest.approx(expected)
    assert 0 < expected < 100


def test_spider_is_none_without_spice(tmp_path):
    assert M.spider(CAPTIONS, [r[0] for r in CAPTIONS], cache_path=str(tmp_path)) is None  # no SPICE jars there
    assert M.spider(CAPTIONS, [r[0] for r in CAPTIONS], java_path=str(tmp_path / "no-java")) is None


def test_spider_averages_cider_d_and_spice_when_available(monkeypatch):
    import importlib

    import torch
    aac_spider = importlib.import_module("aac_metrics.functional.spider")  # the module, not the re-exported function
    seen = {}

    def fake_spider(cands, mrefs, **kw):  # stands in for the Java run
        seen.update(cands=cands, mrefs=mrefs)
        return torch.tensor(0.75)
    monkeypatch.setattr("qa_lab.eval.metrics.captions.spice_available", lambda *a: True)
    monkeypatch.setattr(aac_spider, "spider", fake_spider)
    assert M.spider(CAPTIONS, ["A dog barks!"] + [r[0] for r in CAPTIONS[1:]]) == 0.75
    assert seen["cands"][0] == "a dog barks" and seen["mrefs"][0] == CAPTIONS[0]


# --- labels, counts, notes -------------------------------------------------------------------------------------

def test_accuracy_and_macro_f1_hand_worked():
    assert M.accuracy(["Yes", "no", "dog bark"], ["yes.", "No", "Dog  Bark"]) == 1.0
    assert M.accuracy(["Yes"], ["yes."], normalize=False) == 0.0
    # unbalanced: always "a" on 8 a + 2 b -> accuracy 0.8;
    # F1(a) = 2*8 / (2*8 + 2 FP + 0 FN) = 16/18, F1(b) = 0 (2 FN) -> macro-F1 = 8/18
    refs, hyps = ["a"] * 8 + ["b"] * 2, ["a"] * 10
    assert M.accuracy(refs, hyps) == pytest.approx(0.8)
    assert M.macro_f1(refs, hyps) == pytest.approx(8 / 18)
    # a hypothesis outside the reference classes is only a miss: F1(a) = 2/3 (1 TP, 1 FN), F1(b) = 1
    assert M.macro_f1(["a", "a", "b"], ["a", "zebra", "b"]) == pytest.approx((2 / 3 + 1) / 2)


def test_macro_f1_equals_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(3)
    labels = ["dog", "cat", "car", "rain"]
    refs = [rng.choice(labels) for _ in range(300)]
    hyps = [r if rng.random() < 0.6 else rng.choice(labels + ["other"]) for r in refs]
    expected = sklearn_metrics.f1_score(refs, hyps, average="macro", labels=sorted(set(refs)))
    assert M.macro_f1(refs, hyps) == pytest.approx(expected)


def test_count_scores_hand_worked():
    # 3 ok; "two" -> 2 ok; "many" and "2.5" not integers (wrong, format errors, no MAE); "4." vs 1 -> |3|
    out = M.count_scores(["3", "2", "5", "1", "2"], ["3", "two", "many", "4.", "2.5"])
    assert out == {"accuracy": 2 / 5, "mae": pytest.approx(1.0), "format_errors": 2, "n": 5}
    assert math.isnan(M.count_scores(["1"], ["lots"])["mae"])
    with pytest.raises(ValueError, match="reference 0"):
        M.count_scores(["some"], ["1"])


def test_note_field_accuracy_hand_worked():
    refs = [{"pitch": 60, "velocity": 100, "instrument": "organ"}] * 3 + [{"pitch": 40, "velocity": 50,
                                                                             "instrument": "bass"}]
    hyps = [{"pitch": 60, "velocity": 100, "instrument": "Organ"},  # all right (instrument case-insensitive)
            {"pitch": 72, "velocity": 100, "instrument": "flute"},  # octave off: chroma right; velocity right
            None,  # format error: wrong everywhere
            "<|pitch|><|midi_pitch_40|><|velocity|><|midi_velocity_75|><|instrument|>bass"]  # raw text, velocity off
    out = M.note_field_accuracy(refs, hyps)
    assert out == {"pitch": 2 / 4, "pitch_chroma": 3 / 4, "velocity": 2 / 4, "instrument": 2 / 4, "all": 1 / 4,
                   "format_errors": 1, "n": 4}


# --- bootstrap -------------------------------------------------------------------------------------------------

def test_bootstrap_deterministic_contains_estimate_and_narrows():
    rng = random.Random(4)
    scores = [float(rng.random() < 0.7) for _ in range(2000)]
    small = scores[:50]
    a, b = M.bootstrap_ci(small, seed=0), M.bootstrap_ci(small, seed=0)
    assert a == b and M.bootstrap_ci(small, seed=1) != a
    lo, hi = M.bootstrap_ci(scores)
    assert lo <= sum(scores) / len(scores) <= hi
    assert (hi - lo) < 0.5 * (a[1] - a[0])
    assert M.bootstrap_ci([0.25] * 30) == pytest.approx((0.25, 0.25))
    # the fn form: accuracy recomputed per resample, same seed -> same interval
    refs = ["a" if rng.random() < 0.5 else "b" for _ in range(200)]
    hyps = [r if rng.random() < 0.8 else "x" for r in refs]
    ci = M.bootstrap_ci(M.accuracy, refs, hyps, n_resamples=300, seed=5)
    assert ci == M.bootstrap_ci(M.accuracy, refs, hyps, n_resamples=300, seed=5)
    assert ci[0] <= M.accuracy(refs, hyps) <= ci[1] and ci[0] < ci[1]


def test_bootstrap_recomputes_the_corpus_metric_on_paired_resamples():
    # utt 1: 1 word, 1 error (WER 1); utt 2: 9 words, 0 errors. Corpus WER of {1, 2} = 1/10; resamples {1,1} -> 1,
    # {2,2} -> 0. A mean of per-utterance WERs would give 0.5 for {1, 2} instead.
    refs = ["dog", "the cat sat on the mat all day long"]
    hyps = ["cat", "the cat sat on the mat all day long"]
    seen = []

    def wer(r, h):
        seen.append(M.word_error_rate(r, h, normalize=False))
        return seen[-1]
    lo, hi = M.bootstrap_ci(wer, refs, hyps, n_resamples=200, seed=0)
    assert {round(v, 6) for v in seen} == {0.0, 0.1, 1.0}
    assert (lo, hi) == (0.0, 1.0)


def test_bootstrap_drops_nan_resamples():
    refs = ["<|0.00|>a<|0.50|>", "<|0.00|>a<|0.50|>"]
    hyps = ["<|0.10|>a<|0.60|>", "no timestamps"]  # resamples of the bad one alone have no matched word -> nan
    lo, hi = M.bootstrap_ci(lambda r, h: M.average_absolute_shift(r, h)["aas"], refs, hyps, n_resamples=100)
    assert lo == pytest.approx(0.2) and hi == pytest.approx(0.2)


# --- input checks ----------------------------------------------------------------------------------------------

CORPUS_FNS = [M.word_error_rate, M.character_error_rate, M.bleu, M.average_absolute_shift, M.grounding_scores,
              M.event_f1, M.cider_d, M.spider, M.bleu4_captions, M.accuracy, M.macro_f1, M.count_scores,
              M.note_field_accuracy]


@pytest.mark.parametrize("fn", CORPUS_FNS, ids=lambda f: f.__name__)
def test_empty_and_mismatched_inputs_raise(fn):
    with pytest.raises(ValueError, match="no examples"):
        fn([], [])
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        fn(["a", "b"], ["a"])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="no words after normalisation"):
        M.word_error_rate(["uh"], ["hello"])
    with pytest.raises(TypeError, match="not a single string"):
        M.word_error_rate("a b", "a b")
    with pytest.raises(ValueError, match="no examples"):
        M.bootstrap_ci(M.accuracy, [], [])
    with pytest.raises(ValueError, match="alpha"):
        M.bootstrap_ci([1.0, 2.0], alpha=1.5)
