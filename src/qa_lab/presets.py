"""Model presets as data: checkpoint ids and the tiny architecture, nothing else differs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    audio_encoder: str | None
    """Whisper checkpoint (hub id or folder); None builds `encoder_config` with random weights."""
    language_model: str | None
    """Causal-LM checkpoint; None builds `llm_config` with random weights and the tiny BPE tokenizer."""
    encoder_config: dict = field(default_factory=dict)
    """WhisperConfig kwargs for random init."""
    llm_config: dict = field(default_factory=dict)
    """Qwen2Config kwargs for random init (vocab_size is set from the tokenizer)."""
    trust_remote_code: bool = False
    """Whether the LLM needs remote code (Qwen-7B); the run config must opt in too."""
    qwen2_audio: str | None = None
    """A released Qwen2AudioForConditionalGeneration checkpoint (hub id or folder): tower, projector, LLM and
    tokenizer all come from it (qa_lab.core.qwen2_audio), and audio_encoder / language_model are unused."""


PRESETS: dict[str, Preset] = {
    # Random init, CPU-sized: Whisper d256x4 encoder + Qwen2 d256x4 LLM.
    "tiny": Preset(
        audio_encoder=None,
        language_model=None,
        encoder_config=dict(num_mel_bins=80, d_model=256, encoder_layers=4, encoder_attention_heads=4,
                            encoder_ffn_dim=1024, max_source_positions=1500),
        llm_config=dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                        num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=False,
                        rope_theta=10000.0),
    ),
    # One-GPU ablation scale (~60 M parameters): Whisper d512x6 encoder + Qwen2 d512x8 LLM, from kit-made parts.
    "mini": Preset(
        audio_encoder=None,
        language_model=None,
        encoder_config=dict(num_mel_bins=80, d_model=512, encoder_layers=6, encoder_attention_heads=8,
                            encoder_ffn_dim=2048, max_source_positions=1500),
        llm_config=dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=8, num_attention_heads=8,
                        num_key_value_heads=4, max_position_embeddings=4096, tie_word_embeddings=False,
                        rope_theta=10000.0),
    ),
    # As in the paper: Whisper-large-v2 encoder + Qwen-7B (remote code; opt in with model.trust_remote_code).
    "qwen-audio-7b": Preset(audio_encoder="openai/whisper-large-v2", language_model="Qwen/Qwen-7B",
                            trust_remote_code=True),
    # Released Qwen2-Audio (Whisper-large-v3-shaped tower, 128 mel bins, + Qwen-7B), base and instruction-tuned.
    "qwen2-audio-7b": Preset(audio_encoder=None, language_model=None, qwen2_audio="Qwen/Qwen2-Audio-7B"),
    "qwen2-audio-7b-instruct": Preset(audio_encoder=None, language_model=None,
                                      qwen2_audio="Qwen/Qwen2-Audio-7B-Instruct"),
    # The same recipe on an LLM that transformers implements natively.
    "whisper-large-v2+qwen2.5-7b": Preset(audio_encoder="openai/whisper-large-v2",
                                          language_model="Qwen/Qwen2.5-7B"),
}


def qwen2_audio_source(model_cfg) -> str | None:
    """The Qwen2-Audio checkpoint a model config starts from (model.qwen2_audio, else its preset's), or None."""
    return model_cfg.qwen2_audio or PRESETS[model_cfg.preset].qwen2_audio
