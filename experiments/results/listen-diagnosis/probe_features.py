"""Linear/MLP CTC probes on frozen Whisper tiny.en features: how well do unseen voices generalise?

    python experiments/results/listen-diagnosis/probe_features.py N_TRAIN STEPS avg4|stack4|avg1 [WARPS]

WARPS: comma-separated mel frequency-warp factors applied to the training clips (e.g. 0.9,1.0,1.1).
"""
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.core.features import encode_clips, clip_key
from qa_lab.eval.harness import eval_examples
from qa_lab.eval.metrics import word_error_rate
from qa_lab.prompts.tasks import transcript

def main():
    n_train = int(sys.argv[1]); steps = int(sys.argv[2])
    cfg = load_config("demo", ["world.n_train=6000", "world.n_test=100", "model.pool_stride=1"])
    torch.manual_seed(0)
    model = build_model(cfg)
    tok = model.tokenizer
    tr, _ = eval_examples(cfg, world_split="train")
    tr = [e for e in tr if e["task"] == "asr"]
    held = tr[n_train:n_train + 75]; tr = tr[:n_train]
    te, _ = eval_examples(cfg, world_split="test")
    te = [e for e in te if e["task"] == "asr"][:75]
    t0 = time.time()
    warps = [float(a) for a in sys.argv[4].split(",")] if len(sys.argv) > 4 else [1.0]
    orig = model.audio_features
    def warped(alpha):
        def f(mel, lengths):
            if alpha == 1.0:
                return orig(mel, lengths)
            n = mel.shape[1]
            src = (torch.arange(n, dtype=torch.float32) * alpha).clamp(max=n - 1)
            lo = src.floor().long(); hi = (lo + 1).clamp(max=n - 1); w = (src - lo)[None, :, None]
            return orig(mel[:, lo] * (1 - w) + mel[:, hi] * w, lengths)
        return f
    feats = encode_clips(model, te + held, progress=False)
    aug = []
    for a in warps:
        model.audio_features = warped(a)
        fa = encode_clips(model, tr, progress=False)
        aug.append(fa)
    model.audio_features = orig
    print("encoded", len(feats), round(time.time() - t0), "s", flush=True)
    def data(exs):
        return [(feats[clip_key(e)][0].float(), torch.tensor(tok(transcript(e), add_special_tokens=False)["input_ids"])) for e in exs]
    D = [(fa[clip_key(e)][0].float(), torch.tensor(tok(transcript(e), add_special_tokens=False)["input_ids"])) for fa in aug for e in tr]
    T, H = data(te), data(held)
    V = len(tok); blank = tok.pad_token_id
    def view(h, mode):
        k = int(mode[-1])
        n = h.shape[0] // k * k
        h = h[:n]
        if mode.startswith("avg"):
            return h.reshape(-1, k, h.shape[1]).mean(1)
        return h.reshape(-1, k * h.shape[1])
    for mode in [sys.argv[3]]:
        torch.manual_seed(0)
        k = int(mode[-1]); d = 384 * (k if mode.startswith("stack") else 1)
        head = nn.Sequential(nn.Linear(d, 256), nn.GELU(), nn.Linear(256, V))
        opt = torch.optim.AdamW(head.parameters(), lr=2e-3)
        g = torch.Generator().manual_seed(0)
        t0 = time.time()
        for s in range(steps):
            idx = torch.randint(len(D), (24,), generator=g).tolist()
            xs = [view(D[i][0], mode) for i in idx]
            ys = [D[i][1] for i in idx]
            x = nn.utils.rnn.pad_sequence(xs, batch_first=True)
            lp = head(x).log_softmax(-1).transpose(0, 1)
            loss = F.ctc_loss(lp, torch.cat(ys), torch.tensor([len(a) for a in xs]), torch.tensor([len(y) for y in ys]),
                              blank=blank, zero_infinity=True)
            opt.zero_grad(); loss.backward(); opt.step()
        for name, T_ in (("test", T), ("held-train-voices", H)):
            hyps = []
            with torch.no_grad():
                for h, y in T_:
                    ids = head(view(h, mode)).argmax(-1).tolist()
                    c = [x for j, x in enumerate(ids) if (j == 0 or x != ids[j - 1]) and x != blank]
                    hyps.append(tok.decode(c).strip())
            refs = [tok.decode(y) for _, y in T_]
            print(mode, name, "loss", round(float(loss), 3), "CTC WER", round(word_error_rate(refs, hyps), 3), round(time.time() - t0), "s", flush=True)
            print("   ", refs[0], "|", hyps[0])

if __name__ == "__main__":
    main()
