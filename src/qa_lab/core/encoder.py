"""The Whisper encoder at each clip's real length, batch-invariant; and the stock 30 s path for parity."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers.masking_utils import create_bidirectional_mask
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from qa_lab.frames import encoder_lengths, pooled_lengths

MEL_FRAMES_30S = 3000


def encode_real(encoder: WhisperEncoder, mel: torch.Tensor, mel_lengths: torch.Tensor,
                n_layers: int | None = None, edges: bool = False, norm: bool = True) -> torch.Tensor:
    """Whisper encoder run at the batch's own length, with padding masked out.

    mel: (B, n_mels, T) padded with anything past each clip's length; mel_lengths: (B,).
    Returns (B, ceil(T/2), d_model). Each clip's valid frames equal what it gets alone: the padded
    mel frames and conv1's output past the clip's end are zeroed (conv2's last window of an
    odd-length clip reads one conv1 frame past the end), and padded keys are masked in attention.
    `edges`: the two mel frames past each clip hold its feature extractor's padding (a Qwen2-Audio tower's input,
    qa_lab.data.audio.log_mel_qwen2) and the convolutions read them instead of zeros, as the tower does in its 30 s
    window; later frames are never read by a valid output. `n_layers` stops after that many layers, before the
    final norm (what a partly frozen tower caches); `encode_top` runs the rest. norm=False leaves the final norm
    out (a Qwen2-Audio tower pools first).
    """
    B, _, T = mel.shape
    if edges:
        x = F.gelu(encoder.conv1(mel))
    else:
        valid = torch.arange(T, device=mel.device)[None, :] < mel_lengths[:, None]  # (B, T)
        keep = valid[:, None, :].to(mel.dtype)
        x = F.gelu(encoder.conv1(mel * keep)) * keep
    x = F.gelu(encoder.conv2(x)).transpose(1, 2)  # (B, T2, d)
    if edges:  # the frames past the last clip's end only fed the convolutions
        x = x[:, :int(encoder_lengths(mel_lengths).max())]
    T2 = x.shape[1]
    if T2 > encoder.embed_positions.num_embeddings:
        raise ValueError(f"{T} mel frames exceed the encoder's {encoder.embed_positions.num_embeddings * 2} "
                         "(30 s); clips must be at most 30 s")
    x = x + encoder.embed_positions.weight[:T2].to(x.dtype)
    x = F.dropout(x, p=encoder.dropout, training=encoder.training)
    n_layers = len(encoder.layers) if n_layers is None else n_layers
    x = encode_layers(encoder, x, encoder_lengths(mel_lengths), stop=n_layers)
    return encoder.layer_norm(x) if norm and n_layers == len(encoder.layers) else x


def encode_layers(encoder: WhisperEncoder, x: torch.Tensor, lengths: torch.Tensor, start: int = 0,
                  stop: int | None = None) -> torch.Tensor:
    """Encoder layers start..stop-1 over x (B, T2, d_model) whose clip i has lengths[i] valid frames (padded keys
    masked); no final norm."""
    key_valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    # padded keys masked, in the form the tower's attention implementation wants (None when nothing is padded)
    mask = create_bidirectional_mask(config=encoder.config, inputs_embeds=x, attention_mask=key_valid)
    for layer in encoder.layers[start:stop]:
        x = layer(x, mask)
    return x


def encode_top(encoder: WhisperEncoder, x: torch.Tensor, lengths: torch.Tensor, start: int,
               norm: bool = True) -> torch.Tensor:
    """The layers from `start` and the final norm (unless norm=False) over a frozen bottom's output x (B, T2,
    d_model), as `encode_real` would finish it: a partly trained tower's step on cached features (the model's and
    the parts' CTC)."""
    x = encode_layers(encoder, x, lengths, start=start)
    return encoder.layer_norm(x) if norm else x


def _check_pad30(mel: torch.Tensor) -> None:
    if mel.shape[-1] != MEL_FRAMES_30S:
        raise ValueError(f"pad30 expects mel padded to {MEL_FRAMES_30S} frames, got {mel.shape[-1]}")


def encode_pad30(encoder: WhisperEncoder, mel: torch.Tensor) -> torch.Tensor:
    """transformers' own Whisper tower on 30 s windows, attending to the padding as Whisper was trained:
    mel (B, n_mels, 3000) -> (B, 1500, d_model)."""
    _check_pad30(mel)
    return encoder(input_features=mel).last_hidden_state


def encode_pad30_masked(encoder: WhisperEncoder, mel: torch.Tensor, mel_lengths: torch.Tensor) -> torch.Tensor:
    """A Qwen2-Audio tower on 30 s windows with the padded keys masked, pooled and normed, exactly as
    Qwen2AudioForConditionalGeneration runs it: mel (B, n_mels, 3000), each clip's valid mel frames -> (B, 750,
    d_model)."""
    _check_pad30(mel)
    n = MEL_FRAMES_30S // 2
    keys = torch.arange(n, device=mel.device)[None, :] < encoder_lengths(mel_lengths)[:, None]
    mask = create_bidirectional_mask(config=encoder.config, inputs_embeds=mel.new_zeros(mel.shape[0], n, 1),
                                     attention_mask=keys.long())
    return encoder(mel, attention_mask=mask).last_hidden_state
