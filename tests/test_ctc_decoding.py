"""Joint CTC / LM decoding: the prefix scores are exact, and the frames can overrule a drifting LM."""

import itertools
import math

import pytest
import torch

from qa_lab.core.ctc import CTCPrefixScorer

BLANK, EOS = 0, 5


def _collapse(path):
    out = [t for i, t in enumerate(path) if t != BLANK and (i == 0 or t != path[i - 1])]
    return tuple(out)


def _brute(logp, prefix, exact):
    """Sum over every CTC path of the frames whose reading starts with (or, exact, equals) `prefix`."""
    total = -math.inf
    for path in itertools.product(range(logp.shape[1]), repeat=logp.shape[0]):
        said = _collapse(path)
        if (said == prefix) if exact else (said[:len(prefix)] == prefix):
            total = float(torch.logaddexp(torch.tensor(total), sum(logp[t, k] for t, k in enumerate(path))))
    return total


def _greedy(scorer, lm, steps=4):
    """Greedy joint decoding with fixed LM logits `lm` (1, V) -> the tokens said, EOS included."""
    ids = torch.zeros((1, 0), dtype=torch.long)
    for _ in range(steps):
        nxt = int(scorer(ids, lm).argmax())
        ids = torch.cat([ids, torch.tensor([[nxt]])], 1)
        if nxt == EOS:
            break
    return ids[0].tolist()


@pytest.mark.parametrize("prefix", [(), (1,), (1, 1), (2, 1), (1, 2, 3)])
def test_prefix_and_end_scores_equal_a_sum_over_every_path(prefix):
    torch.manual_seed(0)
    short, long = torch.randn(4, 4).log_softmax(-1), torch.randn(5, 4).log_softmax(-1)  # V = 4 (0 = blank)
    scorer = CTCPrefixScorer([long, short], weight=0.5, blank=BLANK, eos=EOS)
    for clip, logp in ((0, long), (1, short)):
        state = ()
        for tok in prefix:  # walk the prefix one token at a time, as decoding does
            scorer.extend([clip], [state], torch.tensor([[tok]]))
            state += (tok,)
        n, b, score = scorer.states[(clip, state)]
        if prefix:
            assert score == pytest.approx(_brute(logp, prefix, exact=False), abs=1e-4)
        assert float(torch.logaddexp(n[-1], b[-1])) == pytest.approx(_brute(logp, prefix, exact=True), abs=1e-4)


def test_the_frames_steer_greedy_choices_and_end_the_answer():
    # frames that clearly say 1 then 2; an LM that prefers 3 and never wants to stop
    frames = torch.full((6, 6), -20.0)
    for t, k in enumerate([1, 1, BLANK, 2, 2, BLANK]):
        frames[t, k] = 0.0
    scorer = CTCPrefixScorer([frames.log_softmax(-1)], weight=0.7, blank=BLANK, eos=EOS, top_k=4)
    lm = torch.tensor([[0.0, 1.0, 1.0, 2.0, 0.5, -1.0]])  # logits over V = 6 (EOS = 5)
    assert _greedy(scorer, lm) == [1, 2, EOS]
    assert int(lm.argmax()) == 3  # the LM alone would have said 3 forever


def test_a_word_the_lm_does_not_expect_is_said_when_the_frames_spell_it():
    # V = 40: the frames clearly say 30 then 31; the LM puts both far below its top 4, so only the frames' own
    # tokens can bring them into the candidates
    V = 40
    frames = torch.full((6, V), -20.0)
    for t, k in enumerate([30, 30, BLANK, 31, BLANK, BLANK]):
        frames[t, k] = 0.0
    lm = torch.zeros(1, V)
    lm[0, 1:5] = 3.0  # the LM's favourites (EOS = 5 is a candidate anyway)
    for frame_k, want in ((2, [30, 31, EOS]), (0, None)):
        scorer = CTCPrefixScorer([frames.log_softmax(-1)], weight=0.7, blank=BLANK, eos=EOS, top_k=4,
                                 frame_k=frame_k)
        said = _greedy(scorer, lm)
        if want:
            assert said == want
        else:  # without the frames' tokens (the old candidates) the answer can only be the LM's words
            assert not {30, 31} & set(said)


def test_silent_time_tokens_pass_between_the_words_the_frames_spell():
    # frames that say 1 then 2; token 4 is a time token: never spelt, scored by the LM alone, and it leaves the
    # spoken prefix as it was, so the frames still pick 2 after "1 <4>"
    frames = torch.full((6, 6), -20.0)
    for t, k in enumerate([1, 1, BLANK, 2, 2, BLANK]):
        frames[t, k] = 0.0
    lm = torch.tensor([[0.0, 0.0, 0.0, 2.0, 0.0, -1.0]])  # the LM prefers 3 (never spoken)
    spoken = CTCPrefixScorer([frames.log_softmax(-1)], weight=0.7, blank=BLANK, eos=EOS, top_k=4)
    silent = CTCPrefixScorer([frames.log_softmax(-1)], weight=0.7, blank=BLANK, eos=EOS, top_k=4, silent=[4])
    logp = lm.log_softmax(-1)[0]
    empty = torch.zeros((1, 0), dtype=torch.long)
    first = silent(empty, lm)[0]
    spoken(empty, lm)
    assert float(first[4]) == pytest.approx(0.3 * float(logp[4]))  # (1 - w) log p_LM, no CTC term
    assert int(first.argmax()) == 1
    after_word = silent(torch.tensor([[1]]), lm)[0]
    scored = silent(torch.tensor([[1, 4]]), lm)[0]
    # "1 <4>" goes on as "1" does: the time token changed nothing the frames read, and 2 comes next
    assert int(scored.argmax()) == 2 and float(scored[2]) == pytest.approx(float(after_word[2]))
    plain = spoken(torch.tensor([[1]]), lm)[0]  # 4 as a spoken token: the frames never spell it
    assert float(plain[4]) < float(after_word[4]) - 5


def test_a_lead_space_before_the_first_word_is_not_said():
    # an SRWT answer spelt with spaces opens "<time> Ġ word": the frames spell the word but never a space before the
    # first one, so a lead token (3) at the start is scored by the LM alone and leaves the spoken prefix empty
    frames = torch.full((6, 6), -20.0)
    for t, k in enumerate([1, 1, BLANK, 2, 2, BLANK]):
        frames[t, k] = 0.0
    lm = torch.tensor([[0.0, 0.0, 0.0, 2.0, 0.0, -1.0]])
    logp = lm.log_softmax(-1)[0]
    scorer = CTCPrefixScorer([frames.log_softmax(-1)], weight=0.7, blank=BLANK, eos=EOS, top_k=4, silent=[4], lead=[3])
    plain = CTCPrefixScorer([frames.log_softmax(-1)], weight=0.7, blank=BLANK, eos=EOS, top_k=4, silent=[4])
    empty = torch.zeros((1, 0), dtype=torch.long)
    assert float(scorer(empty, lm)[0, 3]) == pytest.approx(0.3 * float(logp[3]))  # no CTC term at the start
    assert float(plain(empty, lm)[0, 3]) < 0.3 * float(logp[3]) - 5  # a spoken 3: the frames never say it
    # "<4> 3" then goes on as "<4>" does: 1 comes next with the same score
    assert torch.allclose(scorer(torch.tensor([[4, 3]]), lm), plain(torch.tensor([[4]]), lm))
    # a 3 after a word is said, as any token is
    assert float(scorer(torch.tensor([[4, 3, 1]]), lm)[0, 3]) == pytest.approx(float(plain(torch.tensor([[4, 1]]), lm)[0, 3]))


def test_soft_time_targets_cost_less_near_the_target_and_leave_other_tokens_alone():
    from types import SimpleNamespace

    from qa_lab.core.model import AudioLLM, token_losses
    V, time_ids = 3020, torch.arange(10, 3011)  # 3001 time tokens at ids 10..3010
    target = torch.tensor([[3, 10 + 150, 7]])  # a word, <|1.50|>, a word
    stub = SimpleNamespace(time_ids=time_ids, time_sigma=0.05)

    def loss_for(peak: int) -> torch.Tensor:
        logits = torch.zeros(1, 3, V)
        logits[0, 1, 10 + peak] = 12.0  # the head bets on one time
        logits[0, 0, 3] = logits[0, 2, 7] = 5.0
        return AudioLLM.soft_time_losses(stub, logits, target, token_losses(logits, target))[0]

    exact, near, far = loss_for(150), loss_for(154), loss_for(400)
    assert exact[1] < near[1] < far[1]  # a near miss costs less than a far one
    assert torch.equal(exact[[0, 2]], near[[0, 2]])  # words keep their cross-entropy
    plain = token_losses(torch.zeros(1, 3, V), target)
    assert torch.equal(AudioLLM.soft_time_losses(stub, torch.zeros(1, 3, V), target, plain)[[0, 0], [0, 2]],
                       plain[[0, 0], [0, 2]])
    from qa_lab.config import ConfigError, load_config
    with pytest.raises(ConfigError, match="model.time_sigma=-0.1"):
        load_config("base", ["model.time_sigma=-0.1"])
    sharp = SimpleNamespace(time_ids=time_ids, time_sigma=0.001)  # a Gaussian narrower than the grid: cross-entropy
    logits = torch.randn(1, 3, V)
    assert torch.allclose(AudioLLM.soft_time_losses(sharp, logits, target, token_losses(logits, target)),
                          token_losses(logits, target), atol=1e-4)


def test_joint_decoding_runs_greedy_and_beam_and_leaves_other_tasks_alone(corpus):
    from qa_lab.config import ConfigError, load_config
    from qa_lab.core.build import build_model
    from qa_lab.data.manifest import read_manifest
    from qa_lab.eval.decode import run

    cfg = load_config("base", ["smoke=true", "stage=full", "model.ctc_weight=1.0"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    asr = [e for e in read_manifest(corpus / "test.jsonl") if e["task"] == "asr"]
    lid = [{**asr[0], "task": "lid"}]
    plain = {n: run(model, cfg, [dict(e) for e in asr], max_new_tokens=6, num_beams=n) for n in (1, 2)}
    cfg.decode.ctc_weight = 0.9
    for n in (1, 2):
        joint = run(model, cfg, [dict(e) for e in asr], max_new_tokens=6, num_beams=n)
        joint_greedy = joint if n == 1 else joint_greedy
        assert len(joint) == len(asr) and all(isinstance(t, str) for t in joint)
        assert joint != plain[n]  # random frames and a random LM disagree: the frames change the answer
    srwt = [e for e in read_manifest(corpus / "test.jsonl") if e["task"] == "srwt"]
    cfg.decode.ctc_timed = True  # srwt's words jointly with the frames, its time tokens by the LM alone
    timed = run(model, cfg, [dict(e) for e in srwt], max_new_tokens=8)
    assert len(timed) == len(srwt) and all(t.startswith("<|") for t in timed)  # a random LM's times come first
    assert run(model, cfg, [dict(e) for e in asr], max_new_tokens=6, num_beams=1) == joint_greedy
    cfg.decode.ctc_timed = False
    cfg.decode.ctc_weight = 0.0
    before = run(model, cfg, [dict(e) for e in lid], max_new_tokens=4)
    cfg.decode.ctc_weight = 0.9
    assert run(model, cfg, [dict(e) for e in lid], max_new_tokens=4) == before  # not a transcription task
    with pytest.raises(ConfigError, match="decode.ctc_weight"):
        load_config("base", ["decode.ctc_weight=1.5"])
    cfg.model.ctc_weight = 0.0  # a model trained without the CTC loss has frames that spell nothing
    with pytest.raises(ConfigError, match="trained without the CTC loss"):
        run(model, cfg, [dict(e) for e in asr], max_new_tokens=2)


def test_times_from_the_frames_give_well_formed_srwt_and_grounding_answers(corpus, monkeypatch):
    from qa_lab.config import ConfigError, load_config
    from qa_lab.core.build import build_model
    from qa_lab.data.manifest import read_manifest
    from qa_lab.eval import decode
    from qa_lab.prompts import tags

    cfg = load_config("base", ["smoke=true", "stage=full", "model.ctc_weight=1.0", "decode.times=ctc"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    test = read_manifest(corpus / "test.jsonl")
    srwt = [e for e in test if e["task"] == "srwt"]
    grounding = [{**e, "task": "grounding", "query": e["words"][-1]["word"]} for e in srwt]
    # a random LLM transcribes with special tokens only: let it say the clip's words (times still from its frames)
    lm = decode._generate
    said = lambda exs, out: [" ".join(w["word"] for w in e["words"][:2]) if e["task"] == "asr" else o  # noqa: E731
                             for e, o in zip(exs, out)]
    monkeypatch.setattr(decode, "_generate", lambda model, cfg, exs, *a: said(exs, lm(model, cfg, exs, *a)))
    outs = decode.run(model, cfg, [dict(e) for e in srwt + grounding], max_new_tokens=6)
    for ex, out in zip(srwt, outs[:len(srwt)]):
        words = tags.parse_srwt(out)
        assert [w.word for w in words] == [w["word"] for w in ex["words"][:2]]  # the transcript, timed
        assert 0 <= words[0].start and words[-1].end <= ex["_duration"] + model.frame_seconds
    for ex, out in zip(grounding, outs[len(srwt):]):
        spans = tags.parse_spans(out)  # the query is not in the transcript: spotted in the frames
        assert spans and all(0 <= a < b <= ex["_duration"] + model.frame_seconds for a, b in spans)
    cfg.decode.times = "lm"
    assert decode.run(model, cfg, [dict(e) for e in srwt[:1]], max_new_tokens=6) != outs[:1]
    with pytest.raises(ConfigError, match="decode.times"):
        load_config("base", ["decode.times=frames"])
    cfg.decode.times, cfg.model.ctc_weight = "ctc", 0.0
    with pytest.raises(ConfigError, match="decode.times=ctc: this model was trained without the CTC loss"):
        decode.run(model, cfg, [dict(e) for e in srwt], max_new_tokens=2)
