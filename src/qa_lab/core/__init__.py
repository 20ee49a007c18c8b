"""The model and what builds, trains-in-place and saves it: the real-length Whisper encoder, AudioLLM, presets, tokenizers,
stages (what trains), cached tower features, CTC prefix scores, checkpoint conversion and loading."""
