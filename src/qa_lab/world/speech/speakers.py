"""Who speaks: the named speakers of each language (a test pair never heard in training) and the training crowd."""

from __future__ import annotations

import numpy as np

from qa_lab.world.speech.grammar import _check_lang, _check_split

# Named speakers: a language voice (accents for en and es) plus a voice variant from espeak-ng-data/voices/!v/
# whose `gender` line gives the gender below (f1, f2, f4, Andrea, steph, anika: female; m3, m7, m8, victor, Andy,
# Marco: male). Variants set pitch range and formants: median F0 measured over sentences is 160-275 Hz for these
# female speakers and 75-130 Hz for the male ones, in every language. anika and Marco are test speakers in every
# language, so test voices are never heard in training, in any language. Every speaker was run at pitch and
# pitch_range 0 and 100 and at rates 80 and 450. Left out:
# - near-duplicates of a chosen variant by long-term spectrum (m1, m2, m4, m5, m6, croak ~ m3; f3, f5 ~ f2;
#   aunty ~ f4; steph2 ~ steph; linda ~ belinda);
# - Annie: under cmn, with pitch <= 20 and pitch_range >= 90, espeak-ng crashes the process (its SetPitch2 drives
#   the base pitch below zero for a pitch range as wide as Annie's 120-280 Hz);
# - klatt* (no gender line: the Klatt synthesiser at the language voice's own pitch), whisper/whisperf (unvoiced),
#   voices with no gender line and effects (robosoft*, Demonic, announcer, zac...);
# - the en-us-nyc accent, which drops the word event of "huge".

_ROSTER = (  # variant, gender, espeak pitch parameter (0-100, within the variant's range), split
    ("m3", "male", 50, "train"), ("f1", "female", 55, "train"), ("victor", "male", 40, "train"),
    ("f2", "female", 60, "train"), ("m7", "male", 45, "train"), ("f4", "female", 50, "train"),
    ("m8", "male", 55, "train"), ("Andrea", "female", 45, "train"), ("Andy", "male", 35, "train"),
    ("steph", "female", 65, "train"), ("Marco", "male", 45, "test"), ("anika", "female", 50, "test"),
)
_ACCENTS = {"en": ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan"),
            "de": ("de",), "fr": ("fr",), "es": ("es", "es-419"), "zh": ("cmn",)}
SPEAKERS: dict[str, dict] = {
    f"{lang}-{i + 1:02d}": {"lang": lang, "voice": f"{accents[i % len(accents)]}+{variant}", "gender": gender,
                            "pitch": pitch, "split": split}
    for lang, accents in _ACCENTS.items() for i, (variant, gender, pitch, split) in enumerate(_ROSTER)}


# The crowd: training-only voices for acoustic variety. A crowd clip draws an accent of its language, one of these
# espeak-ng variants (each with a gender line; never a test variant) and a pitch parameter, all per clip, so no two
# crowd clips need share a voice. It has no speaker name (speaker_id keeps to the named roster). Measured: a CTC
# probe on frozen Whisper tiny.en features trained on 4500 clips, half of them crowd clips, reads the unseen test
# voices at WER 0.667 against 0.729 from the roster alone (experiments/results/listen-diagnosis/). Every variant
# was run in every language and accent at the pitch and pitch-range extremes the world's emotions reach; median
# F0 at pitch 35-65 is 140-310 Hz for the female variants and 75-135 Hz for the male ones (en-us).
CROWD: dict[str, str] = {
    **{v: "female" for v in ("Alicia", "belinda", "f3", "f5", "grandma", "linda", "steph2", "steph3")},
    **{v: "male" for v in ("AnxiousAndy", "Denis", "Diogo", "Henrique", "Hugo", "Lee", "Storm", "antonio", "croak",
                           "m1", "m2", "m4", "m5", "m6", "michel", "miguel", "sandro", "travis")},
}
CROWD_PITCH = (35, 65)  # the pitch parameter's range for crowd clips (espeak-ng 0-100, within the variant's range)


def crowd_voice(rng: np.random.Generator, lang: str) -> dict:
    """A crowd voice for one clip of `lang`: {"voice", "gender", "pitch"}, drawn from `rng`."""
    _check_lang(lang)
    accents, variants = _ACCENTS[lang], tuple(CROWD)
    variant = variants[int(rng.integers(len(variants)))]
    return {"voice": f"{accents[int(rng.integers(len(accents)))]}+{variant}", "gender": CROWD[variant],
            "pitch": int(rng.integers(CROWD_PITCH[0], CROWD_PITCH[1] + 1))}


def speakers(lang: str, split: str) -> tuple[str, ...]:
    """Names of `lang`'s speakers for `split`: "train" and "val" share the training voices, "test" has its own."""
    _check_lang(lang)
    _check_split(split)
    want = "test" if split == "test" else "train"
    return tuple(name for name, s in SPEAKERS.items() if s["lang"] == lang and s["split"] == want)
