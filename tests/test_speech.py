"""The offline speech generator: exact word timestamps in five languages, speakers, grammars and splits, the corpus."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from qa_lab.world.speech import (KEYWORDS, LANGUAGES, SPEAKERS, VOICES, corpus_text, display_text,
                                 parallel_sentences, sentences, speakers, synthesize)

SR = 16_000
TEXT = "the curious elephant carried an orange umbrella across the bridge"


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def f0_track(x: np.ndarray) -> np.ndarray:
    """F0 in Hz of the clearly voiced 40 ms frames (10 ms hop), by autocorrelation."""
    out = []
    for i in range(0, len(x) - 640, 160):
        frame = x[i:i + 640] - x[i:i + 640].mean()
        if rms(frame) < 0.03:
            continue
        ac = np.fft.irfft(np.abs(np.fft.rfft(frame, 1280)) ** 2)[:640]
        lag = SR // 400 + int(np.argmax(ac[SR // 400: SR // 60]))
        if ac[lag] > 0.5 * ac[0]:
            out.append(SR / lag)
    return np.array(out)


def vocab(langs=LANGUAGES) -> set[str]:
    return {w for line in corpus_text(langs) for w in line.split()}


@pytest.mark.parametrize("voice", VOICES)
def test_words_are_the_tokens_contiguous_and_inside_the_audio(voice):
    audio, words = synthesize(TEXT, voice=voice, rate=160, pitch=40)
    duration = len(audio) / SR
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert [w["word"] for w in words] == TEXT.split()
    starts, ends = [w["start"] for w in words], [w["end"] for w in words]
    assert all(a < b for a, b in zip(starts, starts[1:])), starts
    assert ends[:-1] == starts[1:]  # a word owns the pause after it
    assert starts[-1] < ends[-1] <= duration
    assert duration - ends[-1] <= 0.07  # trailing silence trimmed to the 50 ms margin
    assert all(round(t, 2) == t for t in starts + ends)
    assert starts[0] < 0.05


def test_every_word_region_has_speech_in_it():
    audio, words = synthesize(TEXT)
    floor = rms(audio) * 0.05
    for w in words:
        seg = audio[int(w["start"] * SR): int(w["end"] * SR)]
        assert rms(seg) > floor, w


def test_word_starts_sit_on_acoustic_onsets():
    # A voiceless stop (p, t, k) after a vowel begins with a silent closure, so energy must fall right
    # at the word event; timestamps off by more than ~10 ms would put voiced audio in one window.
    ratios = []
    for i, text in enumerate(["the happy painter kicked a tiny kettle", "maria carried a purple ticket today",
                              "you took a cup to the kitchen"]):
        audio, words = synthesize(text, voice=VOICES[i])
        for prev, w in zip(words, words[1:]):
            if w["word"][0] in "ptk" and prev["word"][-1] in "aeiouy":
                t = int(w["start"] * SR)
                before = audio[t - int(0.03 * SR): t - int(0.005 * SR)]
                after = audio[t + int(0.005 * SR): t + int(0.03 * SR)]
                ratios.append(rms(after) / rms(before))
    assert len(ratios) >= 8
    assert np.median(ratios) < 0.2, ratios


def test_longer_words_and_sentences_take_longer():
    short, _ = synthesize("the dog ran home")
    long, _ = synthesize("the dog ran home across the river and over the mountain")
    assert len(long) > 1.5 * len(short)
    _, words = synthesize("a photographed elephant")
    assert words[1]["end"] - words[1]["start"] > 3 * (words[0]["end"] - words[0]["start"])


def test_same_call_gives_identical_bytes_whatever_was_spoken_before():
    # espeak-ng keeps synthesis state between utterances and seeds breath noise from the clock;
    # "+f3" is a breathy variant, so both sources of drift are exercised.
    first = synthesize(TEXT, voice="en-us+f3", rate=150, pitch=60)
    synthesize("something else entirely", voice="en+m3", rate=200)
    time.sleep(1.05)  # espeak seeds its noise from time(NULL): a new second must not change the audio
    again = synthesize(TEXT, voice="en-us+f3", rate=150, pitch=60)
    assert first[0].tobytes() == again[0].tobytes()
    assert first[1] == again[1]


def test_sentences_and_audio_are_the_same_in_a_fresh_process():
    # a fresh interpreter with another string-hash seed and an untouched espeak-ng
    code = ("import hashlib, json; from qa_lab.world.speech import sentences, synthesize; "
            f"a, w = synthesize({TEXT!r}, voice='en-us+f3'); "
            "print(json.dumps([sentences(20, 0, 'val'), hashlib.sha1(a.tobytes()).hexdigest(), w]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout
    val, digest, words = json.loads(out)
    synthesize("warm the engine up with other words", voice="en")
    audio, here = synthesize(TEXT, voice="en-us+f3")
    assert val == sentences(20, 0, "val")
    assert digest == hashlib.sha1(audio.tobytes()).hexdigest() and words == here


def test_voices_and_settings_change_the_audio():
    clips = {v: synthesize(TEXT, voice=v)[0].tobytes() for v in VOICES}
    assert len(set(clips.values())) == len(VOICES)
    assert synthesize(TEXT, pitch=30)[0].tobytes() != synthesize(TEXT, pitch=70)[0].tobytes()
    assert len(synthesize(TEXT, rate=140)[0]) > len(synthesize(TEXT, rate=200)[0])


def test_text_espeak_reads_as_other_words_is_refused():
    with pytest.raises(ValueError, match="the 42 dogs ran home"):
        synthesize("the 42 dogs ran home")
    with pytest.raises(ValueError, match="no voice 'xx-nope'"):
        synthesize("hello", voice="xx-nope")


def test_sentences_are_deterministic_well_formed_and_splits_disjoint():
    train = sentences(300, seed=0, split="train")
    assert train == sentences(300, seed=0, split="train")
    assert train != sentences(300, seed=1, split="train")
    assert len(set(train)) == 300
    for s in train:
        assert re.fullmatch(r"[a-z]+( [a-z]+)*", s), s
        assert 6 <= len(s.split()) <= 14, s
    val, test = set(sentences(100, 0, "val")), set(sentences(100, 0, "test"))
    other_seed_val = set(sentences(100, 7, "val"))
    assert not (set(train) & val) and not (set(train) & test) and not (val & test)
    assert not set(train) & other_seed_val  # the split is a property of the text, not of the seed
    with pytest.raises(ValueError, match="split"):
        sentences(1, 0, "dev")


def test_grammar_sentences_speak_with_one_event_per_word():
    vocab = {w for line in corpus_text() for w in line.split()}
    for i, s in enumerate(sentences(60, seed=3, split="train")):
        assert set(s.split()) <= vocab
        _, words = synthesize(s, voice=VOICES[i % len(VOICES)])  # raises on any event mismatch
        assert len(words) == len(s.split())
    assert len(vocab) > 250


# ---------------------------------------------------------------------------------------------
# Five languages

SPOKEN = {  # accented letters, multi-byte characters, words espeak-ng would read together ("on the", 小 狗)
    "en": "this painter whistles on the train with the sailor",
    "de": "der große hund schläft über dem grünen fluss im schönen dorf",
    "fr": "il y a un garçon à côté du château près de la fenêtre élégante",
    "es": "el niño pequeño comió una manzana junto al río en la montaña",
    "zh": "我 看见 一只 小 狗 在 老 房子 旁边 睡觉",
}


def check_words(text: str, audio: np.ndarray, words: list[dict]) -> None:
    assert [w["word"] for w in words] == text.split()
    starts, ends = [w["start"] for w in words], [w["end"] for w in words]
    assert all(a < b for a, b in zip(starts, starts[1:])), starts
    assert ends[:-1] == starts[1:] and starts[-1] < ends[-1] <= len(audio) / SR
    assert starts[0] < 0.05


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_speaks_one_timed_word_per_token(lang):
    texts = [SPOKEN[lang]] + sentences(6, seed=0, split="train", lang=lang)
    names = speakers(lang, "train") + speakers(lang, "test")
    for i, text in enumerate(texts):
        spk = SPEAKERS[names[i % len(names)]]
        audio, words = synthesize(text, voice=spk["voice"], pitch=spk["pitch"])
        check_words(text, audio, words)
        floor = rms(audio) * 0.05
        for w in words:  # every word's span holds speech, so no word was given another's time
            assert rms(audio[int(w["start"] * SR): int(w["end"] * SR)]) > floor, (text, w)


def test_chinese_words_get_their_own_times_where_espeak_reads_them_as_one():
    # espeak-ng's dictionary has 小狗 as one word and gives 老师 one event per character
    _, words = synthesize("我 看见 一只 小 狗", voice="cmn")
    assert [w["word"] for w in words] == ["我", "看见", "一只", "小", "狗"]
    assert words[4]["start"] - words[3]["start"] > 0.1  # one syllable each, not a zero-length split
    _, words = synthesize("老师 喜欢 红色 的 自行车", voice="cmn")
    assert [w["word"] for w in words] == ["老师", "喜欢", "红色", "的", "自行车"]
    durations = [w["end"] - w["start"] for w in words]
    assert durations[4] > 1.5 * durations[3]  # three syllables take longer than one


def test_display_text_removes_spaces_only_in_chinese():
    assert display_text("我 看见 一只 小 狗", "zh") == "我看见一只小狗"
    for lang in LANGUAGES:
        for s in sentences(20, seed=0, split="val", lang=lang):
            shown = display_text(s, lang)
            assert shown == ("".join(s.split()) if lang == "zh" else s)
            assert (" " in shown) == (lang != "zh")
    with pytest.raises(ValueError, match="'xx'"):
        display_text("hello", "xx")


def test_speaker_roster_has_both_genders_and_test_voices_never_heard_in_training():
    keys = {"lang", "voice", "gender", "pitch", "split"}
    for name, spk in SPEAKERS.items():
        assert set(spk) == keys and name.startswith(spk["lang"] + "-") and spk["gender"] in ("male", "female")
    for lang in LANGUAGES:
        train, test = speakers(lang, "train"), speakers(lang, "test")
        assert speakers(lang, "val") == train and len(train) + len(test) >= 8 and len(test) >= 2
        assert not set(train) & set(test)
        for group in (train, test):
            assert {SPEAKERS[n]["gender"] for n in group} == {"male", "female"}
        variant = lambda n: SPEAKERS[n]["voice"].split("+")[1]  # noqa: E731
        heard = {variant(n) for other in LANGUAGES for n in speakers(other, "train")}
        assert not {variant(n) for n in test} & heard
    with pytest.raises(ValueError, match="split"):
        speakers("en", "dev")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_speakers_sound_different_and_their_gender_is_audible(lang):
    text = sentences(1, seed=0, split="val", lang=lang)[0]
    clips, f0 = {}, {"male": [], "female": []}
    for name in speakers(lang, "train") + speakers(lang, "test"):
        spk = SPEAKERS[name]
        audio, _ = synthesize(text, voice=spk["voice"], pitch=spk["pitch"])
        clips[audio.tobytes()] = name
        f0[spk["gender"]].append(np.median(f0_track(audio)))
    assert len(clips) == len(speakers(lang, "train") + speakers(lang, "test"))
    assert min(f0["female"]) > 1.2 * max(f0["male"]), f0


def test_pitch_range_widens_the_intonation():
    spans = []
    for r in (0, 50, 100):
        lo, hi = np.percentile(f0_track(synthesize(TEXT, pitch_range=r)[0]), [5, 95])
        spans.append(hi / lo)
    assert spans[0] < 1.05 and spans[0] < spans[1] < spans[2] and spans[2] > 1.25, spans
    with pytest.raises(ValueError, match="pitch_range must be in 0-100, got 120"):
        synthesize(TEXT, pitch_range=120)


@pytest.mark.parametrize("lang", LANGUAGES[1:])
def test_sentences_in_every_language_are_deterministic_plain_words_and_splits_disjoint(lang):
    train = sentences(300, seed=0, split="train", lang=lang)
    assert train == sentences(300, seed=0, split="train", lang=lang)
    assert train != sentences(300, seed=1, split="train", lang=lang)
    assert len(set(train)) == 300
    words = vocab((lang,))
    for s in train:
        assert re.fullmatch(r"[^\W\d_]+( [^\W\d_]+)*", s), s  # letters and single spaces: no digits, no punctuation
        assert s == s.lower() and set(s.split()) <= words, s
        assert 3 <= len(s.split()) <= 32, s
    val, test = set(sentences(100, 0, "val", lang)), set(sentences(100, 0, "test", lang))
    assert not (set(train) & val) and not (set(train) & test) and not (val & test)
    assert not set(sentences(300, 5, "train", lang)) & test  # the split is a property of the sentence
    assert sentences(20, 0, "train", lang) != sentences(20, 0, "train", "en")
    with pytest.raises(ValueError, match="language"):
        sentences(1, 0, "train", lang="zh-cn")


def test_parallel_sentences_are_aligned_deterministic_and_split_by_meaning():
    pairs = parallel_sentences(200, seed=0, split="train", src="en", tgt="de")
    assert len(pairs) == 200 and all(isinstance(p, tuple) and len(p) == 2 for p in pairs)
    assert pairs == parallel_sentences(200, seed=0, split="train", src="en", tgt="de")
    assert pairs != parallel_sentences(200, seed=1, split="train", src="en", tgt="de")
    # one abstract sentence per index, whatever the pair: sides line up across language pairs
    fr = parallel_sentences(200, seed=0, split="train", src="fr", tgt="en")
    assert [e for e, _ in pairs] == [e for _, e in fr]
    assert len({e for e, _ in pairs}) == len({d for _, d in pairs}) == 200
    test = {lang: set(s for s, _ in parallel_sentences(100, 0, "test", lang, "en")) for lang in LANGUAGES}
    for src in LANGUAGES:
        for tgt in LANGUAGES:
            if src == tgt:
                continue
            train = parallel_sentences(150, seed=3, split="train", src=src, tgt=tgt)
            assert not {s for s, _ in train} & test[src] and not {t for _, t in train} & test[tgt]
            for s, t in train[:30]:
                assert set(s.split()) <= vocab((src,)) and set(t.split()) <= vocab((tgt,)), (s, t)


def test_parallel_grammar_agrees_in_gender_case_and_word_order():
    from qa_lab.world.speech.grammar import _realize
    dog_sleeps = ("clause", (("the", "small", "dog"), "sleeps", None, "", "", ("next to", ("the", "old", "house"))))
    assert [_realize(dog_sleeps, lang) for lang in LANGUAGES] == [
        "the small dog sleeps next to the old house", "der kleine hund schläft neben dem alten haus",
        "le petit chien dort à côté de la vieille maison", "el perro pequeño duerme junto a la casa vieja",
        "小 狗 在 老 房子 旁边 睡觉"]
    sees = ("because", (("a", "young", "girl"), "sees", ("a", "old", "dog"), "", "", ("in", ("the", "", "garden"))),
            (("my", "", "teacher"), "finds", ("the", "red", "ball"), "tonight", "", None))
    assert [_realize(sees, lang) for lang in LANGUAGES] == [
        "a young girl sees an old dog in the garden because my teacher finds the red ball tonight",
        "ein junges mädchen sieht einen alten hund im garten weil mein lehrer heute abend den roten ball findet",
        "une jeune fille voit un vieux chien dans le jardin car mon professeur trouve le ballon rouge ce soir",
        "una niña joven ve a un perro viejo en el jardín porque mi maestro encuentra la pelota roja esta noche",
        "因为 我的 老师 今晚 找到 红色 的 球 所以 一个 年轻 的 女孩 在 花园 里 看见 一只 老 狗"]
    there = ("there", ("a", "", "cat"), ("next to", ("the", "", "king")))
    assert [_realize(there, lang) for lang in ("de", "fr", "es", "zh")] == [
        "neben dem könig ist eine katze", "il y a un chat à côté du roi", "hay un gato junto al rey",
        "国王 旁边 有 一只 猫"]
    tired = ("is", ("the", "", "aunt"), "tired")
    assert [_realize(tired, lang) for lang in LANGUAGES] == [
        "the aunt is tired", "die tante ist müde", "la tante est fatiguée", "la tía está cansada", "阿姨 很 累"]


def test_corpus_text_covers_every_language():
    all_words = vocab()
    assert vocab(("en",)) < all_words and {"hund", "chien", "perro", "狗", "schläft", "müden"} <= all_words
    for lang in LANGUAGES:
        assert len(vocab((lang,))) > 250
        for s in sentences(100, seed=2, split="test", lang=lang):
            assert set(s.split()) <= vocab((lang,)), s


@pytest.mark.parametrize("lang", LANGUAGES)
def test_keywords_are_frequent_single_words(lang):
    kws = KEYWORDS[lang]
    assert 8 <= len(kws) <= 12 and len(set(kws)) == len(kws)
    assert all(len(k.split()) == 1 for k in kws) and set(kws) <= vocab((lang,))
    token_sets = [set(s.split()) for s in sentences(500, seed=0, split="train", lang=lang)]
    assert np.mean([any(k in t for k in kws) for t in token_sets]) >= 0.2
    for k in kws:
        assert np.mean([k in t for t in token_sets]) >= 0.03, k


@pytest.mark.parametrize("lang", LANGUAGES)
def test_crowd_voices_speak_every_language_and_keep_their_gender(lang):
    from qa_lab.world.speech import CROWD, CROWD_PITCH, crowd_voice
    text = sentences(1, seed=0, split="val", lang=lang)[0]
    f0 = {"male": [], "female": []}
    for variant, gender in CROWD.items():
        voice = f"{speech_accents(lang)[0]}+{variant}"
        low, _ = synthesize(text, voice=voice, pitch=CROWD_PITCH[0])
        high, words = synthesize(text, voice=voice, pitch=CROWD_PITCH[1])
        check_words(text, high, words)
        f0[gender].append(np.median(f0_track(low if gender == "female" else high)))  # the two sexes' nearest ends
    assert min(f0["female"]) > 1.05 * max(f0["male"]), f0
    rng = np.random.default_rng(0)
    drawn = [crowd_voice(rng, lang) for _ in range(50)]
    assert len({d["voice"] for d in drawn}) > 10
    assert all(CROWD_PITCH[0] <= d["pitch"] <= CROWD_PITCH[1] and d["gender"] == CROWD[d["voice"].split("+")[1]]
               for d in drawn)


def speech_accents(lang):
    from qa_lab.world.speech import _ACCENTS
    return _ACCENTS[lang]
