"""Does a chat checkpoint listen to the clips of held-out world dialogues, and do its audio frames hold the sounds?

    python experiments/results/chat-tiny-cpu/diagnose.py CHECKPOINT [N_PER_KIND]

Per dialogue kind, on the chat world's test split (qa_lab.study.introspection.dialogue_listening): the last answer's
loss with the dialogue's own clips and with another dialogue's, the norms of the audio frames and the text
embeddings, and the attention mass of the last answer on each clip. For chat_compare, the share of the answer's
audio attention that lands on the clip holding the sound asked about (chance: 1 / clips).

Then a probe of the frames themselves: a linear classifier per sound label on each scene clip's projected audio
frames (mean and max over time), trained on the train split's scene clips and scored on the test split's (AUC per
label). High AUC with a constant answer means the frames hold the sound and the LLM does not read it.
"""
import re
import sys

import numpy as np
import torch

from qa_lab.core.checkpoint import load
from qa_lab.eval.harness import eval_examples
from qa_lab.study.introspection import audio_frames, batch_for, clip_attention, dialogue_listening

KINDS = ("chat_followup", "chat_scene", "chat_compare", "chat_speakers", "chat_text")


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def pooled(model, cfg, examples: list[dict]) -> np.ndarray:
    out = []
    for s in range(0, len(examples), 16):
        batch = batch_for(model, cfg, examples[s:s + 16])
        out += [np.concatenate([f.mean(0), f.max(0)]) for f in audio_frames(model, batch)]
    return np.stack(out)


def probe(model, cfg) -> None:
    train, _ = eval_examples(cfg, world_split="train", tasks=["asc"])
    test, _ = eval_examples(cfg, world_split="test", tasks=["asc"])
    labels = sorted({e["label"] for ex in train + test for e in ex.get("events") or []})
    y = lambda exs: np.array([[any(e["label"] == x for e in ex["events"]) for x in labels] for ex in exs], float)  # noqa: E731
    xa, xb, ya, yb = pooled(model, cfg, train), pooled(model, cfg, test), y(train), y(test)
    mu, sd = xa.mean(0), xa.std(0) + 1e-6
    xa, xb = torch.tensor((xa - mu) / sd, dtype=torch.float32), torch.tensor((xb - mu) / sd, dtype=torch.float32)
    head = torch.nn.Linear(xa.shape[1], len(labels))
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(300):
        opt.zero_grad()
        torch.set_grad_enabled(True)
        torch.nn.functional.binary_cross_entropy_with_logits(head(xa), torch.tensor(ya, dtype=torch.float32)).backward()
        opt.step()
    with torch.no_grad():
        s = head(xb).numpy()
    aucs = {x: auc(s[:, j], yb[:, j]) for j, x in enumerate(labels)}
    print(f"\nlinear probe on the projected frames ({len(train)} train / {len(test)} test scene clips): "
          f"mean AUC {np.nanmean(list(aucs.values())):.3f}")
    print("  " + ", ".join(f"{x} {a:.2f}" for x, a in aucs.items()))


def main():
    cfg, model = load(sys.argv[1])
    model.eval()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    examples, _ = eval_examples(cfg, world_split="test", tasks=list(KINDS), limit=n)
    torch.set_grad_enabled(False)
    print("| kind | loss own | loss swapped | audio norm | text norm | attention per clip |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in KINDS:
        ds = [ex for ex in examples if ex["task"] == kind]
        r = {"loss_own": 0.0, "loss_swapped": 0.0}
        for s in range(0, len(ds), 10):  # teacher-forced in chunks: the logits of 50 dialogues at once are large
            part = dialogue_listening(model, cfg, ds[s:s + 10], max_attention_examples=10 if s < 20 else 0)
            w = len(ds[s:s + 10]) / len(ds)
            r["loss_own"] += w * part["loss_own"]
            r["loss_swapped"] += w * part["loss_swapped"]
            for k in ("audio_norm", "text_norm"):
                r.setdefault(k, part.get(k))
            r.setdefault("attention_per_clip", part["attention_per_clip"])
        att = " / ".join(f"{m:.3f}" for m in r["attention_per_clip"]) or "-"
        norm = f"{r['audio_norm']:.2f}" if r.get("audio_norm") is not None else "-"
        print(f"| {kind} | {r['loss_own']:.3f} | {r['loss_swapped']:.3f} | {norm} | {r['text_norm']:.2f} | {att} |")
    shares = []
    for ex in [ex for ex in examples if ex["task"] == "chat_compare"][:20]:
        k = int(re.search(r"audio (\d)", ex["messages"][-1]["content"]).group(1)) - 1
        m = clip_attention(model, cfg, ex)
        shares.append((m[k] / m.sum(), 1 / len(m)))
    a, c = np.mean(shares, 0)
    print(f"\nchat_compare: share of the answer's audio attention on the clip with the sound {a:.3f} (chance {c:.3f}, "
          f"{len(shares)} dialogues)")
    probe(model, cfg)


if __name__ == "__main__":
    main()
