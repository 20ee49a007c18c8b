import pytest
import torch
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from qa_lab.core.encoder import encode_pad30, encode_real
from qa_lab.frames import encoder_lengths, pooled_lengths
from qa_lab.presets import PRESETS


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return WhisperEncoder(WhisperConfig(**PRESETS["tiny"].encoder_config)).eval()


def test_lengths_match_qwen2_audio_formula():
    mel = torch.tensor([3000, 585, 101, 100, 1])
    assert encoder_lengths(mel).tolist() == [1500, 293, 51, 50, 1]
    assert pooled_lengths(mel).tolist() == [750, 146, 25, 25, 0]


@torch.no_grad()
def test_clip_embeddings_do_not_depend_on_batch_mates(encoder):
    torch.manual_seed(1)
    lengths = [101, 57, 300, 998, 2]  # odd lengths read one conv1 frame past the end in conv2
    clips = [torch.randn(80, n) for n in lengths]
    batch = torch.full((len(clips), 80, max(lengths)), 5.0)  # a pad value that would leak if not masked
    for i, c in enumerate(clips):
        batch[i, :, :c.shape[1]] = c
    together = encode_real(encoder, batch, torch.tensor(lengths))
    for i, c in enumerate(clips):
        alone = encode_real(encoder, c[None], torch.tensor([lengths[i]]))
        n = int(encoder_lengths(torch.tensor(lengths[i])))
        assert (alone[0, :n] - together[i, :n]).abs().max() <= 1e-5, f"clip {i} (length {lengths[i]}) differs"


@torch.no_grad()
def test_unmasked_padding_would_leak(encoder):
    """The invariance test can fail: without zeroing, padding changes an odd-length clip's last frame."""
    clip = torch.randn(80, 101)
    padded = torch.cat([clip, torch.full((80, 99), 5.0)], 1)
    x1 = torch.nn.functional.gelu(encoder.conv2(torch.nn.functional.gelu(encoder.conv1(clip[None]))))
    x2 = torch.nn.functional.gelu(encoder.conv2(torch.nn.functional.gelu(encoder.conv1(padded[None]))))
    assert (x1[..., -1] - x2[..., 50]).abs().max() > 1e-3


@torch.no_grad()
def test_pad30_attends_to_the_padding_and_real_length_does_not(encoder):
    clip = torch.randn(1, 80, 200)
    quiet = torch.cat([clip, torch.zeros(1, 80, 2800)], -1)
    loud = torch.cat([clip, torch.full((1, 80, 2800), 1.5)], -1)
    pad30 = [encode_pad30(encoder, m)[:, :100] for m in (quiet, loud)]  # the clip's own 100 frames
    assert (pad30[0] - pad30[1]).abs().max() > 1e-2  # stock Whisper: what fills the window reaches the clip
    real = [encode_real(encoder, m, torch.tensor([200]))[:, :100] for m in (quiet, loud)]
    assert (real[0] - real[1]).abs().max() <= 1e-5  # padded keys masked, padded frames zeroed


@torch.no_grad()
def test_real_path_at_full_window_equals_stock(encoder):
    mel = torch.randn(1, 80, 3000)
    ours = encode_real(encoder, mel, torch.tensor([3000]))
    assert (ours - encoder(input_features=mel).last_hidden_state).abs().max() <= 1e-5


def test_over_30s_is_refused(encoder):
    with pytest.raises(ValueError, match="30 s"):
        encode_real(encoder, torch.zeros(1, 80, 3002), torch.tensor([3002]))
    with pytest.raises(ValueError, match="3000"):
        encode_pad30(encoder, torch.zeros(1, 80, 2000))
