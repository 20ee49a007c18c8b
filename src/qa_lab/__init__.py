"""qa_lab: a research kit for Qwen-Audio-style audio-language models."""

__version__ = "0.1.0"
