"""The paper's task metrics, corpus-level, one function each (WER/CER, BLEU, AAS, IoU, event F1, CIDEr-D, accuracy …).

Every function takes `references` and `hypotheses` in example order and scores the whole corpus at once (WER is
total edits / total reference words, not a mean of per-utterance WERs); `bootstrap_ci` resamples examples and
recomputes the same corpus-level figure for a percentile confidence interval. Libraries do the counting where they
exist: torchmetrics (WER, CER), sacrebleu (BLEU), aac-metrics (CIDEr-D, SPIDEr), whisper-normalizer (English text).
Empty inputs and length mismatches raise ValueError.
"""

from qa_lab.eval.metrics.asr import bleu, character_error_rate, word_error_rate
from qa_lab.eval.metrics.bootstrap import bootstrap_ci, bootstrap_paired
from qa_lab.eval.metrics.captions import bleu4_captions, cider_d, spice_available, spider
from qa_lab.eval.metrics.classification import NOTE_FIELDS, accuracy, count_scores, macro_f1, note_field_accuracy
from qa_lab.eval.metrics.text import normalize_english, normalize_label
from qa_lab.eval.metrics.timing import average_absolute_shift, event_f1, grounding_scores, segment_iou

__all__ = [
    "NOTE_FIELDS", "accuracy", "average_absolute_shift", "bleu", "bleu4_captions", "bootstrap_ci", "bootstrap_paired",
    "character_error_rate", "cider_d", "count_scores", "event_f1", "grounding_scores", "macro_f1",
    "normalize_english", "normalize_label", "note_field_accuracy", "segment_iou", "spice_available", "spider",
    "word_error_rate",
]
