"""The built-in audio world: espeak-ng speech with exact word times, procedural sounds and music, splits with unseen
test material, and the cached parallel build."""
