"""Joint CTC / LM decoding: what the LLM hears at the audio frames guides what it says.

A model trained with the auxiliary CTC loss (`model.ctc_weight`) spells the transcript at its audio frames
(qa_lab.study.introspection.frame_transcripts). Its answers can still lose their place and drift into the language prior
(issue 9's diagnosis: frame WER 0.575 against answer WER 0.803 for the same checkpoint). Joint decoding, as in
hybrid CTC/attention ASR (Watanabe et al. 2017), scores each candidate next token by

    (1 - w) * log p_LM(token | prefix)  +  w * (log p_CTC(prefix + token, ...) - log p_CTC(prefix, ...))

where p_CTC(g, ...) is the CTC prefix probability: the probability that the frames' CTC paths start with g.
The end of the answer is scored by the probability that the frames spell exactly the prefix. Summed over the
steps, a hypothesis scores (1 - w) log p_LM(y) + w log p_CTC(y): greedy and beam search both use it through a
transformers LogitsProcessor. Only transcription tasks (their answer is what is said) are decoded this way.
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

NEG = -1e30  # log(0) that survives arithmetic without NaNs
# Tasks whose answer is the plain transcript, the only ones the CTC can score. srwt (time tokens around the
# words) was measured and left out when its time tokens were scored as spoken tokens the frames never spell: at
# weight 0.2 and 0.5 the frames split words into pieces between time tokens and format errors rose from 21 to 35 and
# 56 of 75 (experiments/results/listen-diagnosis/). With its time tokens silent (outside the spoken prefix, scored by
# the LM alone) it is decoded jointly when decode.ctc_timed is on.
TASKS = ("asr", "asr_noise")
TIMED_TASKS = ("srwt",)


class CTCPrefixScorer(LogitsProcessor):
    """Adds CTC prefix scores of the clips' frame log-probabilities to the LM's next-token scores.

    frames: one (T_i, V) tensor of CTC log-probabilities per clip (the LLM's outputs at its audio frames, blank
    = `blank`); rows of `input_ids` belong to clip row // num_beams. Each step scores the LM's `top_k` tokens,
    the clip's own frame tokens (every token that is among the `frame_k` likeliest non-blank tokens at some frame of
    the clip, at most `max_frame_tokens` of them, the likeliest first) and EOS (always a candidate, so the frames can
    end an answer the LM would continue); every other token, the blank among them, gets -inf. Without the frame
    tokens a word the LM does not expect could never be said, however clearly the frames spell it: with a 4k-word
    BPE, greedy joint decoding read 0.70 WER where the frames alone read 0.54 (experiments/results/listen-diagnosis/
    section 8). Tags and time tokens are scored like any token: a transcript has none, and a
    model trained with the CTC loss never spells them at its frames.
    """

    def __init__(self, frames: list[torch.Tensor], weight: float, blank: int, eos: int,
                 num_beams: int = 1, top_k: int = 8, frame_k: int = 2, max_frame_tokens: int = 64,
                 silent: list[int] | tuple = (), lead: list[int] | tuple = ()):
        """frame_k=0 scores the LM's candidates only (the decoding before 2026-12-04). `silent`: tokens that are not
        said (an SRWT answer's time tokens): they never enter the spoken prefix, so the frames neither favour nor
        penalise them, and each scores (1 - w) log p_LM, as a word the frames spell for sure would. `lead`: tokens
        that are silent as the answer's first spoken token (the bare space before the first word of an SRWT answer
        spelt with spaces, tags.srwt_spaces: a transcript's first word has none, so the frames never spell it)."""
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"CTC decoding weight must be in (0, 1], got {weight}")
        self.weight, self.blank, self.eos, self.top_k, self.num_beams = weight, blank, eos, top_k, num_beams
        self.silent = torch.tensor(sorted(set(silent)), dtype=torch.long)
        self.skip = frozenset((eos, blank, *silent))  # never part of the spoken prefix
        self.lead = frozenset(lead) - self.skip
        t_max = max(f.shape[0] for f in frames)
        v = frames[0].shape[1]
        # pad every clip to t_max with frames that say "blank" for sure: the recursions then carry each clip's
        # last real frame to t_max unchanged, so one batched loop serves clips of every length
        x = torch.full((len(frames), t_max, v), NEG)
        x[:, :, blank] = 0.0
        self.heard: list[list[int]] = []  # per clip: the tokens its frames may spell, likeliest first
        for i, f in enumerate(frames):
            f = f.float()
            x[i, : f.shape[0]] = f.clamp(min=NEG)
            spelt = f.clone()
            spelt[:, blank] = NEG
            best = spelt.max(0).values  # (V,) each token's best frame
            toks = spelt.topk(min(frame_k, v), dim=1).indices.unique()
            self.heard.append(toks[best[toks].argsort(descending=True)][:max_frame_tokens].tolist())
        self.x = x  # (N, T, V)
        blank_path = x[:, :, blank].cumsum(1)  # the empty prefix: every frame blank so far
        self.states: dict[tuple[int, tuple[int, ...]], tuple[torch.Tensor, torch.Tensor, float]] = {}
        for i in range(len(frames)):  # (r_n, r_b, log prefix prob) of the empty prefix
            self.states[(i, ())] = (torch.full((t_max,), NEG), blank_path[i], 0.0)

    def _said(self, ids: list[int]) -> list[int]:
        return [t for t in ids if t not in self.skip]

    def _prefix(self, said: list[int]) -> tuple[int, ...]:
        """The spoken prefix of a row's said tokens (_said): a lead token at its start is not part of it."""
        return tuple(said[1:] if said and said[0] in self.lead else said)

    def extend(self, clips: list[int], prefixes: list[tuple[int, ...]], cand: torch.Tensor) -> torch.Tensor:
        """log p_CTC prefix scores of prefix + c for each row's candidates `cand` (R, K); stores their states."""
        r_n = torch.stack([self.states[(c, p)][0] for c, p in zip(clips, prefixes)])  # (R, T)
        r_b = torch.stack([self.states[(c, p)][1] for c, p in zip(clips, prefixes)])
        x = self.x[clips]  # (R, T, V)
        xc = x.gather(2, cand[:, None, :].expand(-1, x.shape[1], -1))  # (R, T, K)
        xb = x[:, :, self.blank][:, :, None]  # (R, T, 1)
        last = torch.tensor([p[-1] if p else -1 for p in prefixes])[:, None]  # (R, 1)
        # phi: prefix probability "ready for c" at each frame; a repeat of the last token needs a blank between
        phi = torch.where((cand == last)[:, None, :], r_b[:, :, None], torch.logaddexp(r_n, r_b)[:, :, None])
        empty = torch.tensor([not p for p in prefixes])[:, None]
        n_new = [torch.where(empty, xc[:, 0], torch.full_like(xc[:, 0], NEG))]
        b_new = [torch.full_like(xc[:, 0], NEG)]
        for t in range(1, x.shape[1]):
            n_new.append(torch.logaddexp(n_new[-1], phi[:, t - 1]) + xc[:, t])
            b_new.append(torch.logaddexp(b_new[-1], n_new[-2]) + xb[:, t])
        n_new, b_new = torch.stack(n_new, 1), torch.stack(b_new, 1)  # (R, T, K)
        score = torch.logsumexp(torch.cat([n_new[:, :1], phi[:, :-1] + xc[:, 1:]], 1), 1)  # (R, K)
        for r, (c, p) in enumerate(zip(clips, prefixes)):
            for k, tok in enumerate(cand[r].tolist()):
                self.states[(c, p + (tok,))] = (n_new[r, :, k], b_new[r, :, k], float(score[r, k]))
        return score

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        logp = scores.float().log_softmax(-1)
        rows = input_ids.shape[0]
        clips = [r // self.num_beams for r in range(rows)]
        said = [self._said(ids) for ids in input_ids.tolist()]
        prefixes = [self._prefix(s) for s in said]
        top = logp.topk(min(self.top_k, logp.shape[1]), dim=1).indices  # (R, K)
        text = [[t for t in dict.fromkeys(row + self.heard[c]) if t not in self.skip] or [self.blank]
                for row, c in zip(top.tolist(), clips)]
        width = max(len(t) for t in text)
        cand = torch.tensor([t + [t[0]] * (width - len(t)) for t in text])  # (R, K') padded with a repeat
        before = torch.tensor([self.states[(c, p)][2] for c, p in zip(clips, prefixes)])  # (R,)
        ctc = self.extend(clips, prefixes, cand) - before[:, None]  # (R, K')
        w = self.weight
        out = torch.full_like(logp, float("-inf"))
        for r in range(rows):
            for k, tok in enumerate(cand[r].tolist()):
                if tok != self.blank:
                    out[r, tok] = (1 - w) * logp[r, tok] + w * ctc[r, k]
            n, b, _ = self.states[(clips[r], prefixes[r])]
            end = float(torch.logaddexp(n[-1], b[-1])) - float(before[r])  # the frames spell exactly the prefix
            out[r, self.eos] = (1 - w) * logp[r, self.eos] + w * end
        if len(self.silent):  # the prefix stays as it is: no CTC term
            out[:, self.silent] = (1 - w) * logp[:, self.silent]
        if self.lead:  # nothing said yet: a lead token leaves the prefix empty too
            lead = torch.tensor(sorted(self.lead))
            for r, s in enumerate(said):
                if not s:
                    out[r, lead] = (1 - w) * logp[r, lead]
        return out.to(scores.dtype)
