"""Whisper tiny.en's own decoder on the world's held-out English clips (zero-shot reference).

    python experiments/results/listen-diagnosis/whisper_zero_shot.py
"""
import torch
from transformers import WhisperForConditionalGeneration, WhisperProcessor
from qa_lab.config import load_config
from qa_lab.data.audio import load_audio
from qa_lab.eval.harness import eval_examples
from qa_lab.eval.metrics import word_error_rate
from qa_lab.prompts.tasks import transcript
def main():
    import glob
    path = glob.glob("data/whisper/*tiny*")[0]
    m = WhisperForConditionalGeneration.from_pretrained(path).eval(); p = WhisperProcessor.from_pretrained(path)
    cfg = load_config("demo", ["world.n_train=6000", "world.n_test=100"])
    te, _ = eval_examples(cfg, world_split="test")
    te = [e for e in te if e["task"] == "asr"][:75]
    refs, hyps = [], []
    for i in range(0, 75, 15):
        b = te[i:i+15]
        wav = [load_audio(e["_audio_path"]) for e in b]
        f = p([w.numpy() if hasattr(w, "numpy") else w for w in wav], sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            out = m.generate(f.input_features, max_new_tokens=64)
        hyps += p.batch_decode(out, skip_special_tokens=True); refs += [transcript(e) for e in b]
    print("whisper tiny.en own decoder WER", round(word_error_rate(refs, hyps), 3))
    for r, h in list(zip(refs, hyps))[:5]: print(r, "|", h)
if __name__ == "__main__": main()
