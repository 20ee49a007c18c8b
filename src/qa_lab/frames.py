"""The numbers every layer shares, and the frame arithmetic between them: no qa_lab imports (a leaf).

Audio is mono 16 kHz; Whisper's log-mel has one frame per 10 ms (HOP samples) and N_MELS bins; its encoder takes at
most MAX_SECONDS and halves the frame rate (conv2, stride 2); the kit's projector pools `stride` encoder frames into
one audio slot of the LLM. IGNORE labels positions without a loss."""

SAMPLE_RATE = 16_000
HOP = 160  # 10 ms at 16 kHz
MAX_SECONDS = 30.0
N_MELS = 80
IGNORE = -100  # the label of positions without a loss (torch's cross_entropy ignore_index)


# Shared by the collator (audio slots per clip) and the model (frames per clip): ints or tensors.

def encoder_lengths(mel_lengths):
    """Mel frames -> Whisper encoder frames after conv2 (stride 2, kernel 3, padding 1): ceil(L / 2)."""
    return (mel_lengths - 1) // 2 + 1


def pooled_lengths(mel_lengths, stride: int = 2):
    """Mel frames -> audio frames the LLM sees after average pooling (25 per second for stride 2)."""
    return encoder_lengths(mel_lengths) // stride
