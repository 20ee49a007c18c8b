"""Audio I/O: any file soundfile reads -> mono float32 at 16 kHz -> Whisper log-mel at real length."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from qa_lab.data.shards import member_seconds, read_member
from qa_lab.frames import HOP, MAX_SECONDS, N_MELS, SAMPLE_RATE
from qa_lab.prompts import tags



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
    from transformers import WhisperFeatureExtractor  # imported here: transformers loads slowly; only mels need it
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


@dataclass(frozen=True)
class AudioFront:
    """How a model's clips become mel features and audio slots: the model's `front` (qa_lab.core.model.AudioLLM).

    padding real | pad30 (model.audio_padding); tower whisper | qwen2-audio; n_mels the tower's mel bins; markers the
    tokens around a clip's audio slots (the kit's <audio></audio>, or Qwen2-Audio's <|audio_bos|><|audio_eos|>)."""

    padding: str = "real"
    tower: str = "whisper"
    n_mels: int = N_MELS
    markers: tuple[str, str] = (tags.AUDIO_START, tags.AUDIO_END)

    def mel(self, audio: np.ndarray) -> tuple[np.ndarray, int]:
        """(T,) 16 kHz -> (mel (n_mels, frames), the clip's valid mel frames). Whisper towers count T // 160 frames;
        a Qwen2-Audio tower counts ceil(T / 160) as its processor does, and at real length gets the two frames of
        the processor's padding past the clip that its convolutions read (qa_lab.data.audio.log_mel_qwen2)."""
        if self.tower == "qwen2-audio":
            if self.padding == "pad30":
                return log_mel_pad30(audio, self.n_mels), -(-len(audio) // HOP)
            return log_mel_qwen2(audio, self.n_mels)
        mel = log_mel_pad30(audio, self.n_mels) if self.padding == "pad30" else log_mel(audio, self.n_mels)
        return mel, min(len(audio) // HOP, mel.shape[1])
