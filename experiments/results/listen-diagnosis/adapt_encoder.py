"""How well does the parts stage's encoder adaptation read unseen voices? Its own greedy character CTC on the world's test clips.

    python experiments/results/listen-diagnosis/adapt_encoder.py STEPS N_CLIPS [bs=16] [layers=2] [lr=3e-4] [hlr=2e-3]
                                                                 [tmask=1] [warp=0.85,1.15]

Adapts Whisper tiny.en's top `layers` layers by character CTC (qa_lab.train.parts.train_ctc_top, as the parts stage
does) on N_CLIPS clips of the parts' own speech world, STEPS steps of `bs` clips, one thread; then reads the test
split of the world `make demo` builds (data/world/tiny-e4f6adc490, unseen voices) greedily and prints CER and WER.
tmask: zero random time spans of the cached bottom output (SpecAugment-like); warp: a random mel frequency warp per
training clip, drawn once.
"""
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
from pathlib import Path
from qa_lab.train import parts as P
from qa_lab.core.model import load_whisper_encoder
from qa_lab.core.encoder import encode_real
from qa_lab.eval.metrics import word_error_rate
from qa_lab.world import builder as world
from qa_lab.config import WorldConfig
torch.set_num_threads(1)
steps, n = int(sys.argv[1]), int(sys.argv[2])
opts = dict(a.split("=") for a in sys.argv[3:] if "=" in a)
tmask = float(opts.get("tmask", 0)); n_top = int(opts.get("layers", 2)); lr = float(opts.get("lr", 3e-4))
vocab = P.char_vocab(); inv = {i: c for c, i in vocab.items()}
wc = WorldConfig(size="tiny", out="data/parts/world", languages=["en"], n_train=n)
speech = world.build_world(wc, P.PARTS_WORLD_SEED, tasks=["asr"], progress=False)
clips = P.asr_clips(speech, "train", vocab)
warp = opts.get("warp")
if warp:  # a random mel frequency warp per clip, drawn once
    lo_, hi_ = map(float, warp.split(","))
    gw = torch.Generator().manual_seed(2)
    def _warp(mel, alpha):
        n = mel.shape[0]
        src = (torch.arange(n, dtype=torch.float32) * alpha).clamp(max=n - 1)
        lo = src.floor().long(); hi = (lo + 1).clamp(max=n - 1); w = (src - lo)[:, None]
        return mel[lo] * (1 - w) + mel[hi] * w
    clips = [(_warp(m, lo_ + (hi_ - lo_) * float(torch.rand(1, generator=gw))), t) for m, t in clips]
test = P.asr_clips(Path("data/world/tiny-e4f6adc490"), "test", vocab)
torch.manual_seed(0)
enc = load_whisper_encoder("packaged:tiny.en")
head = nn.Linear(enc.config.d_model, len(vocab) + 1)
import qa_lab.core.encoder as E
orig = E.encode_layers
if tmask:
    g = torch.Generator().manual_seed(1)
    def masked(encoder, x, lengths, start=0, **kw):
        if torch.is_grad_enabled():  # zero random time spans (SpecAugment-like, on the cached bottom output) + channel drop
            B, T, D = x.shape
            keep = torch.ones(B, T, 1)
            for b in range(B):
                for _ in range(int(T * tmask / 10) // 1 + 1):
                    w = int(torch.randint(0, 10, (1,), generator=g)); s = int(torch.randint(0, max(1, T - w), (1,), generator=g))
                    keep[b, s:s + w] = 0
            x = x * keep
        return orig(encoder, x, lengths, start=start, **kw)
    E.encode_layers = masked  # encode_top looks it up at call time
t = time.time()
P.train_ctc_top(enc, head, clips, n_top, steps, int(opts.get("bs", 16)), float(opts.get("hlr", 2e-3)), 0, progress=False, encoder_lr=lr)
tt = time.time() - t
enc.eval(); head.eval()
refs, hyps = [], []
with torch.no_grad():
    for mel, ids in test:
        ids_ = head(encode_real(enc, mel[None], torch.tensor([mel.shape[1]]))).argmax(-1)[0].tolist()
        out, prev = [], 0
        for i in ids_:
            if i != prev and i != 0: out.append(inv[i])
            prev = i
        refs.append("".join(inv[int(i)] for i in ids)); hyps.append("".join(out))
import jiwer
cer = jiwer.cer(refs, hyps)
print(f"CER {cer:.3f}", end=" ")
print(f"steps={steps} clips={n} {opts}: test-voice greedy CTC WER {word_error_rate(refs, hyps):.3f} over {len(test)} clips; train {tt:.0f}s")
print(refs[0], "|", hyps[0])
