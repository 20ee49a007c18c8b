"""Offline speech in five languages with exact word timestamps: espeak-ng via ctypes (espeak), who speaks
(speakers), what is said (grammar, with its words in lexicon)."""

from qa_lab.world.speech.espeak import ESPEAK_LANG, VOICES, synthesize
from qa_lab.world.speech.grammar import (
    CORPUS_VERSION, KEYWORDS, LANGUAGES, corpus_text, display_text, parallel_sentences, sentences, split_of,
)
from qa_lab.world.speech.speakers import _ACCENTS, CROWD, CROWD_PITCH, SPEAKERS, crowd_voice, speakers

__all__ = ["CORPUS_VERSION", "CROWD", "CROWD_PITCH", "ESPEAK_LANG", "KEYWORDS", "LANGUAGES", "SPEAKERS", "VOICES",
           "corpus_text", "crowd_voice", "display_text", "parallel_sentences", "sentences", "speakers", "split_of",
           "synthesize"]
