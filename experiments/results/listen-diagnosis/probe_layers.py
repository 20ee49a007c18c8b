"""Which Whisper tiny.en layer carries over to unseen voices, and does training the top layers help?

    python experiments/results/listen-diagnosis/probe_layers.py N_TRAIN STEPS MODE [ENC_LR]

MODE: `frozenK` (CTC probe on the frozen output of encoder layer K, 1..4; 4 = the recipe's features, with the final
layer norm) or `trainK` (the bottom K layers frozen and their output cached; the layers above, the final layer norm
and the probe trained together, encoder at ENC_LR, default 3e-4). Training clips: the world's voice mix (half the
10 named training speakers, half crowd voices), synthesised as probe_voices.py does. Scored on the world's 75 English
test clips (voices never synthesised here) and 75 held-out sentences in training voices. Pool 4 (12.5 frames/s).
"""
import sys, time
import torch, torch.nn as nn, torch.nn.functional as F
from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.data.audio import log_mel
from qa_lab.data.audio import load_audio
from qa_lab.eval.harness import eval_examples
from qa_lab.eval.metrics import word_error_rate
from qa_lab.prompts.tasks import transcript
from probe_voices import synth_clips


@torch.no_grad()
def hidden(enc, audio):
    """Every layer's output for one clip at 50 frames/s: [embeddings, layer 1, ..., layer n] (T, d) float16."""
    mel = torch.from_numpy(log_mel(audio)).float()[None]
    x = F.gelu(enc.conv2(F.gelu(enc.conv1(mel)))).transpose(1, 2)
    x = x + enc.embed_positions.weight[: x.shape[1]]
    out = [x[0].half()]
    for layer in enc.layers:
        x = layer(x, None)
        out.append(x[0].half())
    return out


def top(enc, k, xs):
    """Layers k+1.. and the final norm over a padded batch of layer-k outputs; -> (B, T, d), lengths."""
    n = torch.tensor([len(x) for x in xs])
    x = nn.utils.rnn.pad_sequence([x.float() for x in xs], batch_first=True)
    mask = torch.zeros(len(xs), 1, 1, x.shape[1]).masked_fill(
        ~(torch.arange(x.shape[1])[None, :] < n[:, None])[:, None, None, :], torch.finfo(x.dtype).min)
    for layer in enc.layers[k:]:
        x = layer(x, mask)
    return enc.layer_norm(x), n


def main():
    n_train, steps, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    enc_lr = float(sys.argv[4]) if len(sys.argv) > 4 else 3e-4
    k = int(mode[-1])
    train_top = mode.startswith("train")
    cfg = load_config("demo", ["world.n_train=50", "world.n_test=100"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    enc, tok = model.audio_tower, model.tokenizer
    te, _ = eval_examples(cfg, world_split="test")
    te = [e for e in te if e["task"] == "asr"][:75]
    t0 = time.time()
    clips = synth_clips(n_train + 75, "mix")
    print("synthesised", len(clips), round(time.time() - t0), "s", flush=True)
    test_audio = [(load_audio(e["_audio_path"], e.get("offset") or 0.0, e.get("duration")), transcript(e)) for e in te]
    H = {id(c): hidden(enc, c[0])[k] for c in clips + test_audio}
    print("encoded", round(time.time() - t0), "s", flush=True)
    ids = lambda text: torch.tensor(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    D = [(H[id(c)], ids(c[1])) for c in clips[:n_train]]
    V, blank = len(tok), tok.pad_token_id
    head = nn.Sequential(nn.Linear(enc.config.d_model, 256), nn.GELU(), nn.Linear(256, V))
    groups = [{"params": head.parameters(), "lr": 2e-3}]
    if train_top:
        tuned = list(enc.layers[k:].parameters()) + list(enc.layer_norm.parameters())
        for p in tuned:
            p.requires_grad_(True)
        groups.append({"params": tuned, "lr": enc_lr})
    opt = torch.optim.AdamW(groups)

    def features(xs, train):
        if train_top:
            enc.train(train)
            h, n = top(enc, k, xs)
        else:
            n = torch.tensor([len(x) for x in xs])
            h = nn.utils.rnn.pad_sequence([x.float() for x in xs], batch_first=True)
            if k == len(enc.layers):
                h = enc.layer_norm(h)
        h = F.avg_pool1d(h.transpose(1, 2), 4, 4).transpose(1, 2)
        return h, n // 4

    g = torch.Generator().manual_seed(0)
    t1 = time.time()
    for step in range(steps):
        idx = torch.randint(len(D), (24,), generator=g).tolist()
        xs, ys = [D[i][0] for i in idx], [D[i][1] for i in idx]
        h, n = features(xs, True)
        lp = head(h).log_softmax(-1).transpose(0, 1)
        loss = F.ctc_loss(lp, torch.cat(ys), n, torch.tensor([len(y) for y in ys]), blank=blank, zero_infinity=True)
        opt.zero_grad(); loss.backward(); opt.step()
        if step % 200 == 0:
            print(f"step {step} loss {loss.item():.3f} {(time.time() - t1) / (step + 1):.2f} s/step", flush=True)
    held = [(H[id(c)], c[1]) for c in clips[n_train:]]
    test = [(H[id(c)], c[1]) for c in test_audio]
    for name, S in (("test voices", test), ("held-out sentences, training voices", held)):
        hyps = []
        with torch.no_grad():
            for x, _ in S:
                h, n = features([x], False)
                best = head(h[0, : int(n[0])]).argmax(-1).tolist()
                c = [t for j, t in enumerate(best) if (j == 0 or t != best[j - 1]) and t != blank]
                hyps.append(tok.decode(c).strip())
        print(f"{mode} lr {enc_lr if train_top else '-'} n={n_train} steps={steps} {name}: "
              f"WER {word_error_rate([r for _, r in S], hyps):.3f}")
    print("wall", round(time.time() - t0), "s")


if __name__ == "__main__":
    main()
