"""Audio I/O: any file soundfile reads -> mono float32 at 16 kHz -> Whisper log-mel at real length."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16_000
HOP = 160  # 10 ms at 16 kHz
MAX_SECONDS = 30.0
N_MELS = 80


class AudioError(ValueError):
    """A clip that cannot be used; the message names the file (and manifest line when known)."""


def resample(audio: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """(T,) float32 at orig_sr -> (T',) float32 at target_sr (soxr, high quality)."""
    if orig_sr == target_sr:
        return audio.astype(np.float32, copy=False)
    return soxr.resample(audio, orig_sr, target_sr).astype(np.float32, copy=False)


def load_audio(path: str | Path, offset: float = 0.0, duration: float | None = None,
               sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read `path` (any soundfile format), mix to mono, resample: -> (T,) float32.

    `offset`/`duration` in seconds select a segment. Raises AudioError naming the file when it is
    missing, undecodable, empty, or the segment lies outside it. A path through a .tar shard reads that member.
    """
    path = Path(path)
    source = _source(path)
    try:
        with sf.SoundFile(source) as f:  # one open: header and samples
            sr, start = f.samplerate, int(round(offset * f.samplerate))
            if start < f.frames:
                f.seek(start)
                data = f.read(-1 if duration is None else int(round(duration * sr)), dtype="float32", always_2d=True)
            else:
                data = np.zeros((0, f.channels), np.float32)
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: empty audio (0 samples at offset {offset:.2f} s)")
    audio = data.mean(axis=1)  # (T,) mono mix-down
    if not np.isfinite(audio).all():
        raise AudioError(f"{path}: audio contains NaN or Inf samples")
    return resample(audio, sr, sample_rate)


def _source(path: Path):
    """What soundfile opens for `path`: the file, or the bytes of a shard member (qa_lab.data.shards)."""
    if path.is_file():
        return str(path)
    from qa_lab.data.shards import read_member
    member = read_member(path)
    if member is None:
        raise AudioError(f"{path}: audio file not found")
    return member


def info(path: str | Path):
    """soundfile's header facts (samplerate, channels, frames) of `path`; AudioError naming the file on failure."""
    path = Path(path)
    try:
        return sf.info(_source(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from None


def duration(path: str | Path) -> float:
    """Seconds of audio in `path` from its header (a shard member's from its shard's index, no audio read);
    AudioError naming the file if missing or undecodable."""
    from qa_lab.data.shards import member_seconds
    seconds = None if Path(path).is_file() else member_seconds(path)
    if seconds is not None:
        return seconds
    facts = info(path)
    return facts.frames / facts.samplerate


def check_duration(seconds: float, where: str) -> None:
    """Refuse clips over 30 s instead of silently cutting them (Whisper's window is 30 s)."""
    if seconds > MAX_SECONDS + 1e-6:
        raise AudioError(f"{where}: clip is {seconds:.2f} s long; the Whisper encoder takes at most "
                         f"{MAX_SECONDS:.0f} s. Split it (offset/duration in the manifest) or trim it.")


@lru_cache(maxsize=4)
def feature_extractor(n_mels: int = N_MELS):
    from transformers import WhisperFeatureExtractor
    return WhisperFeatureExtractor(feature_size=n_mels)


def log_mel(audio: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """(T,) 16 kHz -> (n_mels, T // 160) Whisper log-mel at the clip's real length (no 30 s pad)."""
    n_frames = len(audio) // HOP
    if n_frames == 0:
        raise AudioError(f"clip has {len(audio)} samples; at least {HOP} are needed for one mel frame")
    fe = feature_extractor(n_mels)
    feats = fe(audio, sampling_rate=SAMPLE_RATE, padding="longest", return_tensors="np")["input_features"][0]
    return feats[:, :n_frames].astype(np.float32)


def log_mel_pad30(audio: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """(T,) 16 kHz -> (n_mels, 3000): exactly what Whisper saw in training (audio zero-padded to 30 s)."""
    fe = feature_extractor(n_mels)
    return fe(audio, sampling_rate=SAMPLE_RATE, return_tensors="np")["input_features"][0].astype(np.float32)


EDGE_FRAMES = 2  # mel frames past a clip that a Qwen2-Audio tower's convolutions read (conv1 then conv2)


def log_mel_qwen2(audio: np.ndarray, n_mels: int = 128) -> tuple[np.ndarray, int]:
    """(T,) 16 kHz -> (mel (n_mels, n + EDGE_FRAMES), n): the first n + 2 frames of what Qwen2-Audio's processor
    computes in its 30 s window, n = ceil(T / 160) the frames it marks valid (feature_attention_mask). The clip is
    zero-padded as the 30 s window pads it, so the frames near its end, and the two past it that the tower's
    convolutions read, equal the window's; the window's other frames are silence the tower masks out."""
    n = -(-len(audio) // HOP)
    if n == 0:
        raise AudioError("clip has no samples")
    padded = np.zeros(len(audio) + HOP * (EDGE_FRAMES + 2) + 400, np.float32)  # 400: the STFT window
    padded[:len(audio)] = audio
    feats = feature_extractor(n_mels)(padded, sampling_rate=SAMPLE_RATE, padding="longest",
                                      return_tensors="np")["input_features"][0]
    return feats[:, :n + EDGE_FRAMES].astype(np.float32), n


# Frame arithmetic shared by the collator (audio slots per clip) and the model (frames per clip): ints or tensors.

def encoder_lengths(mel_lengths):
    """Mel frames -> Whisper encoder frames after conv2 (stride 2, kernel 3, padding 1): ceil(L / 2)."""
    return (mel_lengths - 1) // 2 + 1


def pooled_lengths(mel_lengths, stride: int = 2):
    """Mel frames -> audio frames the LLM sees after average pooling (25 per second for stride 2)."""
    return encoder_lengths(mel_lengths) // stride
