"""Does voice variety in training carry a CTC probe on frozen Whisper tiny.en features to unseen voices?

    python experiments/results/listen-diagnosis/probe_voices.py N_TRAIN STEPS roster|roster37|mix|wide

Training clips are synthesised here as the world's speech generator does (emotion and rate drawn per clip),
from N_TRAIN training sentences, with either the world's 10 training voices ("roster": accent and variant fixed
per speaker) or a per-clip draw of accent x espeak-ng variant x pitch over every usable variant except the two
test voices ("wide"). The probe (384 -> 256 -> vocab MLP, CTC) is scored on the world's 75 English test clips
(voices Marco and anika, never synthesised here).
"""
import sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from qa_lab.config import load_config
from qa_lab.core.build import build_model
from qa_lab.core.features import encode_clips, clip_key
from qa_lab.data.audio import log_mel
from qa_lab.eval.harness import eval_examples
from qa_lab.eval.metrics import word_error_rate
from qa_lab.prompts.tasks import transcript
from qa_lab.world import speech, builder as world

WIDE = ("Alex Alicia Andrea Andy AnxiousAndy Denis Diogo Gene Gene2 Henrique Hugo Jacky Lee Mario Michael Mike "
        "Nguyen Reed RicishayMax Storm adam antonio aunty belinda benjamin boris caleb croak david ed edward "
        "f1 f2 f3 f4 f5 grandma grandpa gustave ian iven iven2 john kaukovalta linda m1 m2 m3 m4 m5 m6 m7 m8 "
        "marcelo max michel miguel norbert pablo paul pedro quincy rob robert sandro shelby steph steph2 steph3 "
        "travis victor").split()


ROSTER37 = ("m3 f1 victor f2 m7 f4 m8 Andrea Andy steph Alicia AnxiousAndy aunty Denis belinda Diogo f3 Henrique "
            "f5 Hugo grandma Lee linda Storm steph2 antonio steph3 croak m1 m2 m4 m5 m6 michel miguel sandro "
            "travis").split()


def synth_clips(n, pool, seed=0):
    rng = np.random.default_rng([seed, 17])
    texts = speech.sentences(n, seed + 101, "train", "en")
    roster = speech.speakers("en", "train")
    out = []
    for text in texts:
        emotion = world._pick(rng, tuple(world.EMOTIONS)); rate = world._pick(rng, tuple(world.RATES))
        d_pitch, p_range, volume = world.EMOTIONS[emotion]
        wpm = int(rng.integers(*world.RATES[rate]))
        if pool == "mix" and rng.random() < 0.5:  # half from the roster, half from the crowd
            sp = speech.SPEAKERS[world._pick(rng, roster)]
            voice, base = sp["voice"], sp["pitch"]
        elif pool == "mix":  # the crowd: accent x gendered variant x pitch drawn per clip
            voice = f"{world._pick(rng, speech._ACCENTS['en'])}+{world._pick(rng, tuple(ROSTER37))}"
            base = int(rng.integers(30, 71))
        elif pool == "roster":
            sp = speech.SPEAKERS[world._pick(rng, roster)]
            voice, base = sp["voice"], sp["pitch"]
        elif pool == "roster37":  # the roster plus 27 more variants that have a gender line, fixed per speaker
            k = int(rng.integers(len(ROSTER37)))
            voice, base = f"{speech._ACCENTS['en'][k % 6]}+{ROSTER37[k]}", 35 + (k * 7) % 31
        else:
            voice = f"{world._pick(rng, speech._ACCENTS['en'])}+{world._pick(rng, tuple(WIDE))}"
            base = int(rng.integers(30, 71))
        pitch = int(np.clip(base + d_pitch + rng.integers(-4, 5), 0, 100))
        audio, words = speech.synthesize(text, voice=voice, rate=wpm, pitch=pitch, volume=volume, pitch_range=p_range)
        out.append((audio, " ".join(w["word"] for w in words)))
    return out


@torch.no_grad()
def features(model, clips):
    feats = []
    for audio, _ in clips:
        mel = torch.from_numpy(log_mel(audio)).float()[None]
        h, n = model.audio_features(mel, torch.tensor([mel.shape[-1]]))
        feats.append(h[0, : int(n[0])].float())
    return feats


def main():
    n_train, steps, pool = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    cfg = load_config("demo", ["world.n_train=50", "world.n_test=100"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    tok = model.tokenizer
    te, _ = eval_examples(cfg, world_split="test")
    te = [e for e in te if e["task"] == "asr"][:75]
    t0 = time.time()
    clips = synth_clips(n_train + 75, pool)
    print("synthesised", len(clips), round(time.time() - t0), "s", flush=True)
    feats = features(model, clips)
    test_feats = encode_clips(model, te, progress=False)
    print("encoded", round(time.time() - t0), "s", flush=True)
    ids = lambda text: torch.tensor(tok(text, add_special_tokens=False)["input_ids"])  # noqa: E731
    D = [(f, ids(t)) for f, (_, t) in zip(feats[:n_train], clips[:n_train])]
    H = [(f, t) for f, (_, t) in zip(feats[n_train:], clips[n_train:])]
    T = [(test_feats[clip_key(e)][0].float(), transcript(e)) for e in te]
    V, blank = len(tok), tok.pad_token_id
    head = nn.Sequential(nn.Linear(D[0][0].shape[1], 256), nn.GELU(), nn.Linear(256, V))
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(len(D), (24,), generator=g).tolist()
        xs, ys = [D[i][0] for i in idx], [D[i][1] for i in idx]
        lp = head(nn.utils.rnn.pad_sequence(xs, batch_first=True)).log_softmax(-1).transpose(0, 1)
        loss = F.ctc_loss(lp, torch.cat(ys), torch.tensor([len(x) for x in xs]), torch.tensor([len(y) for y in ys]),
                          blank=blank, zero_infinity=True)
        opt.zero_grad(); loss.backward(); opt.step()
    for name, S in (("test voices", T), ("held-out sentences, training pool", H)):
        hyps = []
        with torch.no_grad():
            for h, _ in S:
                best = head(h).argmax(-1).tolist()
                c = [x for j, x in enumerate(best) if (j == 0 or x != best[j - 1]) and x != blank]
                hyps.append(tok.decode(c).strip())
        print(f"{pool} n={n_train} steps={steps} {name}: WER {word_error_rate([r for _, r in S], hyps):.3f}")
    print("wall", round(time.time() - t0), "s")


if __name__ == "__main__":
    main()
