"""Corpus adapters on tiny fake copies of each corpus's original layout, and the Hugging Face import."""

import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qa_lab.data.corpora import ADAPTERS, from_hf_dataset, prepare
from qa_lab.data.manifest import read_manifest

SR = 16_000


def tone(path: Path, seconds: float = 0.2, freq: float = 440.0, sr: int = SR, channels: int = 1, **kw) -> Path:
    """Write a short sine to `path` (format from the suffix unless given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(str(path), np.stack([x] * channels, axis=1) if channels > 1 else x, sr, **kw)
    return path


def write(path: Path, text: str, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture
def librispeech_root(tmp_path):
    chapter = tmp_path / "ls" / "LibriSpeech" / "test-clean" / "1272" / "128104"
    write(chapter / "1272-128104.trans.txt",
          "1272-128104-0000 MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES AND WE ARE GLAD TO WELCOME HIS GOSPEL\n"
          "1272-128104-0001 NOR IS MISTER QUILTER'S MANNER LESS INTERESTING THAN HIS MATTER\n"
          "1272-128104-0002 HE TELLS US THAT AT THIS FESTIVE SEASON\n")
    tone(chapter / "1272-128104-0000.flac")
    tone(chapter / "1272-128104-0001.flac")  # 0002 has no audio: skipped and reported
    other = tmp_path / "ls" / "LibriSpeech" / "test-clean" / "2902" / "9006"
    write(other / "2902-9006.trans.txt", "2902-9006-0000 THE TWO STRAY KITTENS GRADUALLY MAKE THEMSELVES AT HOME\n")
    tone(other / "2902-9006-0000.flac")
    return tmp_path / "ls"


@pytest.fixture
def aishell1_root(tmp_path):
    base = tmp_path / "aishell" / "data_aishell"
    write(base / "transcript" / "aishell_transcript_v0.8.txt",
          "BAC009S0002W0122 而 对 楼市 成交 抑制 作用 最 大 的 限 购\n"
          "BAC009S0764W0121 甚至 出现 交易 几乎 停滞 的 情况 \n"
          "BAC009S0764W0122 一二 线 城市 虽然 也 处于 调整 中\n")
    tone(base / "wav" / "train" / "S0002" / "BAC009S0002W0122.wav")
    tone(base / "wav" / "test" / "S0764" / "BAC009S0764W0121.wav")
    tone(base / "wav" / "test" / "S0764" / "BAC009S0764W0122.wav")
    tone(base / "wav" / "test" / "S0764" / "BAC009S0764W0123.wav")  # no transcript line: skipped
    return tmp_path / "aishell"


@pytest.fixture
def covost2_root(tmp_path):
    root = tmp_path / "covost"
    # Common Voice / CoVoST TSVs are unquoted: a lone double quote is literal text
    write(root / "covost_v2.fr_en.tsv",
          "path\tsentence\ttranslation\tclient_id\tsplit\n"
          'common_voice_fr_19594767.mp3\tIl a dit "bonjour.\tHe said "hello.\tc1a2\ttest\n'
          "common_voice_fr_17299399.mp3\tC'est fini.\tIt's over.\tc3b4\ttrain_covost\n"
          "common_voice_fr_17299400.mp3\tMerci.\tThanks.\tc3b4\tdev\n"
          "common_voice_fr_17299401.mp3\tAu revoir.\tGoodbye.\tc5d6\ttest\n")
    for clip in ("common_voice_fr_19594767", "common_voice_fr_17299399", "common_voice_fr_17299400"):
        tone(root / "clips" / f"{clip}.mp3", seconds=0.3, format="MP3")  # Common Voice ships mp3
    return root


@pytest.fixture
def clotho_root(tmp_path):
    root = tmp_path / "clotho"
    write(root / "clotho_captions_evaluation.csv",
          "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
          '"Distorted AM Radio noise, close.wav","A radio, tuned between stations, hisses loudly.",'
          "Static noise comes from a radio.,A radio is being tuned.,Someone tunes an old radio.,"
          '"Radio static crackles, then fades."\n'
          "rain_on_roof.wav,Rain falls on a roof.,Heavy rain hits a tin roof.,Rain pours down.,"
          "Water drips steadily.,A storm rains on a house.\n")
    tone(root / "evaluation" / "Distorted AM Radio noise, close.wav")
    tone(root / "evaluation" / "rain_on_roof.wav")
    return root


@pytest.fixture
def clothoaqa_root(tmp_path):
    root = tmp_path / "clothoaqa"
    write(root / "clotho_aqa_test.csv",
          "file_name,QuestionText,answer,confidence\n"
          "birds_park.wav,Are birds singing?,yes,yes\n"
          "birds_park.wav,Are birds singing?,yes,maybe\n"
          "birds_park.wav,Are birds singing?,no,no\n"
          '"birds_park.wav","What is singing, birds or people?",birds,yes\n'
          "gone.wav,Is it raining?,no,yes\n", bom=True)  # a spreadsheet round-trip adds a BOM
    tone(root / "audio_files" / "birds_park.wav")
    return root


@pytest.fixture
def audiocaps_root(tmp_path):
    root = tmp_path / "audiocaps"
    write(root / "test.csv",
          "audiocap_id,youtube_id,start_time,caption\n"
          "103549,--0w1YA1Hm4,30,A vehicle driving as a man and woman are talking and laughing\n"
          '103548,--0w1YA1Hm4,30,"Men talk, a woman laughs, and a car engine hums"\n'
          "103541,-1nilez17Dg,30,Water trickles as people talk in the distance\n"
          "107432,zz_missing1,0,A dog barks twice\n")
    tone(root / "test" / "--0w1YA1Hm4.wav")
    tone(root / "test" / "Y-1nilez17Dg.wav")  # the 'Y' prefix of AudioSet-style downloads
    return root


@pytest.fixture
def cochlscene_root(tmp_path):
    base = tmp_path / "cochl" / "CochlScene"
    tone(base / "Test" / "Bus" / "Bus_user0001_14_0.wav")
    tone(base / "Test" / "Cafe" / "Cafe_user0210_3_1.wav")
    tone(base / "Train" / "Park" / "Park_user0005_1_0.wav")
    return tmp_path / "cochl"


@pytest.fixture
def tut2017_root(tmp_path):
    dev = tmp_path / "tut" / "TUT-acoustic-scenes-2017-development"
    write(dev / "meta.txt", "audio/a001_10_20.wav\tresidential_area\ta001\n"
                            "audio/b020_90_100.wav\tcafe/restaurant\tb020\n")
    write(dev / "evaluation_setup" / "fold1_evaluate.txt", "audio/b020_90_100.wav\tcafe/restaurant\n")
    for clip in ("a001_10_20", "b020_90_100"):
        tone(dev / "audio" / f"{clip}.wav", sr=44_100, channels=2)  # TUT audio is 44.1 kHz stereo
    return tmp_path / "tut"


@pytest.fixture
def vocalsound_root(tmp_path):
    root = tmp_path / "vocalsound"
    for name in ("f0003_0_cough", "m0101_1_throatclearing", "f0004_0_laughter"):
        tone(root / "audio_16k" / f"{name}.wav")
    write(root / "datafiles" / "te.json", json.dumps({"data": [
        {"wav": "/home/yuan/data/audio_16k/f0003_0_cough.wav", "labels": "/m/vs_cough"},
        {"wav": "/home/yuan/data/audio_16k/m0101_1_throatclearing.wav", "labels": "/m/vs_throatclearing"},
    ]}, indent=1))
    return root


MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"


@pytest.fixture
def meld_root(tmp_path):
    root = tmp_path / "MELD.Raw"
    write(root / "test_sent_emo.csv", MELD_HEADER +
          '1,"Why do all you’re coffee mugs have numbers on them?",Mark,surprise,positive,0,0,3,19,'
          '"00:14:38,127","00:14:40,378"\n'
          '2,"Oh. That’s so Monica can keep track, you know?",Rachel,joy,positive,0,1,3,19,'
          '"00:14:40,545","00:14:44,134"\n'
          "3,Okay.,Ross,neutral,neutral,1,0,3,19,\"00:15:01,000\",\"00:15:02,000\"\n")
    clips = root / "output_repeated_splits_test"
    tone(clips / "dia0_utt0.wav")
    tone(clips / "dia0_utt1.flac")  # dia1_utt0 has no audio: skipped
    return root


@pytest.fixture
def nsynth_root(tmp_path):
    folder = tmp_path / "nsynth" / "nsynth-test"
    notes = {
        "guitar_acoustic_010-066-100": {
            "note": 201034, "sample_rate": 16000, "pitch": 66, "velocity": 100, "instrument": 17,
            "instrument_source": 0, "instrument_source_str": "acoustic", "instrument_family": 3,
            "instrument_family_str": "guitar", "instrument_str": "guitar_acoustic_010",
            "note_str": "guitar_acoustic_010-066-100", "qualities": [1, 0, 0, 0, 0, 0, 0, 1, 0, 0],
            "qualities_str": ["bright", "percussive"]},
        "keyboard_electronic_001-021-127": {
            "note": 1, "sample_rate": 16000, "pitch": 21, "velocity": 127, "instrument": 4,
            "instrument_source": 1, "instrument_source_str": "electronic", "instrument_family": 4,
            "instrument_family_str": "keyboard", "instrument_str": "keyboard_electronic_001",
            "note_str": "keyboard_electronic_001-021-127", "qualities": [0] * 10, "qualities_str": []},
        "bass_synthetic_033-050-050": {
            "note": 2, "sample_rate": 16000, "pitch": 50, "velocity": 50, "instrument": 5,
            "instrument_source": 2, "instrument_source_str": "synthetic", "instrument_family": 0,
            "instrument_family_str": "bass", "instrument_str": "bass_synthetic_033",
            "note_str": "bass_synthetic_033-050-050", "qualities": [0] * 10, "qualities_str": []},
    }
    write(folder / "examples.json", json.dumps(notes, indent=4))
    tone(folder / "audio" / "guitar_acoustic_010-066-100.wav")
    tone(folder / "audio" / "keyboard_electronic_001-021-127.wav")  # the bass note has no audio
    return tmp_path / "nsynth"


# ---------------------------------------------------------------------------------------------- per corpus

def test_librispeech(librispeech_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("librispeech", librispeech_root, out, split="test-clean")
    rows = lines(out)
    chapter = librispeech_root.resolve() / "LibriSpeech" / "test-clean" / "1272" / "128104"
    assert rows[0] == {
        "audio": str(chapter / "1272-128104-0000.flac"), "task": "asr", "dataset": "librispeech",
        "split": "test-clean", "id": "1272-128104-0000",
        "text": "mister quilter is the apostle of the middle classes and we are glad to welcome his gospel",
        "audio_lang": "en", "speaker": "1272"}
    assert [r["id"] for r in rows] == ["1272-128104-0000", "1272-128104-0001", "2902-9006-0000"]
    assert rows[1]["text"] == "nor is mister quilter's manner less interesting than his matter"
    assert report["lines"] == 3 and report["tasks"] == Counter(asr=3)
    assert len(report["skipped"]) == 1 and "1272-128104-0002.flac" in report["skipped"][0]
    # the folder holding LibriSpeech/ and LibriSpeech/ itself both work; split=None takes what is on disk
    assert prepare("librispeech", librispeech_root / "LibriSpeech", tmp_path / "b.jsonl")["lines"] == 3


def test_librispeech_errors_name_the_expected_file(librispeech_root, tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"LibriSpeech/dev-other/<speaker>/<chapter>/<speaker>-<chapter>\.trans\.txt"):
        prepare("librispeech", librispeech_root, tmp_path / "m.jsonl", split="dev-other")
    trans = librispeech_root / "LibriSpeech" / "test-clean" / "2902" / "9006" / "2902-9006.trans.txt"
    trans.write_text(trans.read_text() + "\n2902-9006-0001\n")
    with pytest.raises(ValueError, match=r"2902-9006\.trans\.txt:3: expected '2902-9006-<utt> TEXT'"):
        prepare("librispeech", librispeech_root, tmp_path / "m.jsonl")


def test_aishell1(aishell1_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("aishell1", aishell1_root, out, split="test")
    rows = lines(out)
    wav = aishell1_root.resolve() / "data_aishell" / "wav"
    assert rows == [
        {"audio": str(wav / "test" / "S0764" / "BAC009S0764W0121.wav"), "task": "asr", "dataset": "aishell1",
         "split": "test", "id": "BAC009S0764W0121", "text": "甚至出现交易几乎停滞的情况", "audio_lang": "zh",
         "speaker": "S0764"},
        {"audio": str(wav / "test" / "S0764" / "BAC009S0764W0122.wav"), "task": "asr", "dataset": "aishell1",
         "split": "test", "id": "BAC009S0764W0122", "text": "一二线城市虽然也处于调整中", "audio_lang": "zh",
         "speaker": "S0764"},
    ]
    assert report["skipped"] == [f"{wav / 'test' / 'S0764' / 'BAC009S0764W0123.wav'}: no transcript for "
                                 f"BAC009S0764W0123 in {wav.parent / 'transcript' / 'aishell_transcript_v0.8.txt'}"]
    prepare("aishell1", aishell1_root, out)  # every split on disk
    assert Counter(r["split"] for r in lines(out)) == Counter(train=1, test=2)


def test_aishell1_errors(tmp_path):
    base = tmp_path / "data_aishell"
    with pytest.raises(FileNotFoundError, match=r"data_aishell/transcript/aishell_transcript_v0\.8\.txt: not found"):
        prepare("aishell1", tmp_path, tmp_path / "m.jsonl")
    write(base / "transcript" / "aishell_transcript_v0.8.txt", "BAC009S0764W0121 甚至 出现\n")
    (base / "wav").mkdir()
    (base / "wav" / "S0764.tar.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"wav/test/<speaker>/<utt>\.wav.*tarball.*S0764\.tar\.gz.*extract"):
        prepare("aishell1", tmp_path, tmp_path / "m.jsonl", split="test")


def test_covost2(covost2_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("covost2", covost2_root, out, split="test")
    clips = covost2_root.resolve() / "clips"
    assert lines(out) == [{
        "audio": str(clips / "common_voice_fr_19594767.mp3"), "task": "s2tt", "dataset": "covost2", "split": "test",
        "id": "common_voice_fr_19594767", "text": 'He said "hello.', "audio_lang": "fr", "text_lang": "en",
        "transcript": 'Il a dit "bonjour.', "speaker": "c1a2"}]
    assert report["tasks"] == Counter(s2tt=1) and "common_voice_fr_17299401.mp3" in report["skipped"][0]
    train = prepare("covost2", covost2_root, out, split="train", pair="fr_en")  # train_covost counts as train
    assert train["lines"] == 1 and lines(out)[0]["id"] == "common_voice_fr_17299399"
    assert prepare("covost2", covost2_root, out)["lines"] == 3  # every split


def test_covost2_language_codes(covost2_root, tmp_path):
    tsv = (covost2_root / "covost_v2.fr_en.tsv").read_text()
    (covost2_root / "covost_v2.fr_en.tsv").rename(covost2_root / "covost_v2.zh-CN_en.tsv")
    prepare("covost2", covost2_root, tmp_path / "m.jsonl", split="test")
    assert lines(tmp_path / "m.jsonl")[0]["audio_lang"] == "zh"  # zh-CN -> the kit's zh
    write(covost2_root / "covost_v2.cy_en.tsv", tsv)
    with pytest.raises(ValueError, match="several CoVoST language pairs"):
        prepare("covost2", covost2_root, tmp_path / "m.jsonl")
    with pytest.raises(ValueError, match="CoVoST language 'cy' has no qa_lab language tag"):
        prepare("covost2", covost2_root, tmp_path / "m.jsonl", pair="cy_en")


def test_covost2_missing_tsv(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"covost_v2\.<src>_<tgt>\.tsv: not found.*path, sentence, translation"):
        prepare("covost2", tmp_path, tmp_path / "m.jsonl")


def test_covost2_per_split_tsv(covost2_root, tmp_path):
    """The per-split TSVs of get_covost_splits.py (no split column) work too."""
    (covost2_root / "covost_v2.fr_en.tsv").unlink()
    write(covost2_root / "covost_v2.fr_en.dev.tsv", "path\tsentence\ttranslation\tclient_id\n"
                                                      "common_voice_fr_17299400.mp3\tMerci.\tThanks.\tc3b4\n")
    assert prepare("covost2", covost2_root, tmp_path / "m.jsonl")["lines"] == 1
    assert lines(tmp_path / "m.jsonl")[0]["split"] == "dev"


def test_clotho(clotho_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("clotho", clotho_root, out, split="evaluation")
    rows = lines(out)
    refs = ["A radio, tuned between stations, hisses loudly.", "Static noise comes from a radio.",
            "A radio is being tuned.", "Someone tunes an old radio.", "Radio static crackles, then fades."]
    assert rows[0] == {
        "audio": str(clotho_root.resolve() / "evaluation" / "Distorted AM Radio noise, close.wav"), "task": "aac",
        "dataset": "clotho", "split": "evaluation", "id": "Distorted AM Radio noise, close.wav", "text": refs[0],
        "references": refs, "instruction": "<|caption_clotho|>", "audio_lang": "unknown"}
    assert [r["text"] for r in rows[:5]] == refs  # one line per reference caption
    assert report == {"lines": 10, "tasks": Counter(aac=10), "skipped": []}
    with pytest.raises(FileNotFoundError, match=r"clotho_captions_validation\.csv: not found.*caption_1"):
        prepare("clotho", clotho_root, out, split="validation")


def test_clothoaqa(clothoaqa_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("clothoaqa", clothoaqa_root, out, split="test")
    rows = lines(out)
    audio = str(clothoaqa_root.resolve() / "audio_files" / "birds_park.wav")
    assert rows[1] == {"audio": audio, "task": "aqa", "dataset": "clothoaqa", "split": "test", "id": "birds_park.wav",
                       "question": "Are birds singing?", "answer": "yes", "audio_lang": "en", "confidence": "maybe",
                       "references": ["yes", "yes", "no"]}
    assert rows[3]["question"] == "What is singing, birds or people?" and rows[3]["references"] == ["birds"]
    assert report["lines"] == 4 and report["tasks"] == Counter(aqa=4)
    assert report["skipped"][0].endswith("gone.wav: audio file not found (clotho_aqa_test.csv:6)")
    with pytest.raises(FileNotFoundError, match=r"clotho_aqa_val\.csv: not found.*QuestionText"):
        prepare("clothoaqa", clothoaqa_root, out, split="val")


def test_audiocaps(audiocaps_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("audiocaps", audiocaps_root, out, split="test")
    rows = lines(out)
    refs = ["A vehicle driving as a man and woman are talking and laughing",
            "Men talk, a woman laughs, and a car engine hums"]
    assert rows[1] == {
        "audio": str(audiocaps_root.resolve() / "test" / "--0w1YA1Hm4.wav"), "task": "aac", "dataset": "audiocaps",
        "split": "test", "id": "--0w1YA1Hm4", "text": refs[1], "references": refs,
        "instruction": "<|caption_audiocaps|>", "audio_lang": "unknown", "audiocap_id": "103548"}
    assert rows[2]["audio"].endswith("Y-1nilez17Dg.wav") and rows[2]["references"] == [rows[2]["text"]]
    assert report["lines"] == 3 and len(report["skipped"]) == 1 and "zz_missing1" in report["skipped"][0]
    with pytest.raises(FileNotFoundError, match=r"val\.csv: not found.*audiocap_id, youtube_id, start_time, caption"):
        prepare("audiocaps", audiocaps_root, out, split="val")
    write(audiocaps_root / "train.csv", "audiocap_id,youtube_id,start_time,caption\n1,abc,0,A cat\n")
    with pytest.raises(FileNotFoundError, match="AudioCaps ships no audio"):
        prepare("audiocaps", audiocaps_root, out, split="train")


def test_cochlscene(cochlscene_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("cochlscene", cochlscene_root, out, split="test")  # split names match case-insensitively
    rows = lines(out)
    assert rows[0] == {
        "audio": str(cochlscene_root.resolve() / "CochlScene" / "Test" / "Bus" / "Bus_user0001_14_0.wav"),
        "task": "asc", "dataset": "cochlscene", "split": "Test", "id": "Bus_user0001_14_0", "label": "Bus",
        "audio_lang": "unknown"}
    assert [r["label"] for r in rows] == ["Bus", "Cafe"] and report["tasks"] == Counter(asc=2)
    assert prepare("cochlscene", cochlscene_root, out)["lines"] == 3
    with pytest.raises(FileNotFoundError, match=r"CochlScene/Val/<SceneClass>/<clip>\.wav"):
        prepare("cochlscene", cochlscene_root, out, split="Val")


def test_tut2017(tut2017_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("tut2017", tut2017_root, out, split="development")
    dev = tut2017_root.resolve() / "TUT-acoustic-scenes-2017-development"
    assert lines(out)[1] == {"audio": str(dev / "audio" / "b020_90_100.wav"), "task": "asc", "dataset": "tut2017",
                             "split": "development", "id": "b020_90_100", "label": "cafe/restaurant",
                             "audio_lang": "unknown"}
    assert report["lines"] == 2 and report["tasks"] == Counter(asc=2)
    assert prepare("tut2017", tut2017_root, out, split="fold1_evaluate")["lines"] == 1
    assert lines(out)[0]["split"] == "fold1_evaluate"
    with pytest.raises(FileNotFoundError, match=r"TUT-acoustic-scenes-2017-evaluation/meta\.txt: not found"):
        prepare("tut2017", tut2017_root, out, split="evaluation")
    write(dev / "meta.txt", "audio/a001_10_20.wav\tresidential_area\ta001\naudio/b020_90_100.wav\n")
    with pytest.raises(ValueError, match=r"meta\.txt:2: expected 'audio/<clip>\.wav<TAB><scene label>'"):
        prepare("tut2017", tut2017_root, out)


def test_vocalsound(vocalsound_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("vocalsound", vocalsound_root, out)  # datafiles/te.json only -> the test split
    assert lines(out)[1] == {
        "audio": str(vocalsound_root.resolve() / "audio_16k" / "m0101_1_throatclearing.wav"), "task": "vsc",
        "dataset": "vocalsound", "split": "test", "id": "m0101_1_throatclearing", "label": "throatclearing",
        "audio_lang": "en", "speaker": "m0101"}
    assert report["lines"] == 2 and report["tasks"] == Counter(vsc=2)
    assert prepare("vocalsound", vocalsound_root, out, split="all")["lines"] == 3
    with pytest.raises(FileNotFoundError, match=r"datafiles/tr\.json: not found"):
        prepare("vocalsound", vocalsound_root, out, split="train")
    with pytest.raises(FileNotFoundError, match=r"audio_44k: not found.*f0003_0_cough\.wav"):
        prepare("vocalsound", vocalsound_root, out, audio_folder="audio_44k")


def test_meld(meld_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("meld", meld_root, out, split="test")
    rows = lines(out)
    clips = meld_root.resolve() / "output_repeated_splits_test"
    assert rows[1] == {"audio": str(clips / "dia0_utt1.flac"), "task": "ser", "dataset": "meld", "split": "test",
                       "id": "dia0_utt1", "label": "joy", "audio_lang": "en", "speaker": "Rachel",
                       "text": "Oh. That’s so Monica can keep track, you know?", "sentiment": "positive"}
    assert rows[0]["label"] == "surprise" and report["tasks"] == Counter(ser=2)
    assert report["skipped"] == [f"{clips / 'dia1_utt0.wav'}: audio file not found (test_sent_emo.csv:4)"]


def test_meld_video_only_explains_extraction(meld_root, tmp_path):
    (meld_root / "output_repeated_splits_test" / "dia0_utt0.wav").unlink()
    (meld_root / "output_repeated_splits_test" / "dia0_utt0.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(FileNotFoundError, match=r"dia0_utt0\.wav: not found, only the video dia0_utt0\.mp4.*ffmpeg"):
        prepare("meld", meld_root, tmp_path / "m.jsonl", split="test")
    with pytest.raises(FileNotFoundError, match=r"dev_sent_emo\.csv: not found.*Dialogue_ID"):
        prepare("meld", meld_root, tmp_path / "m.jsonl", split="dev")


def test_nsynth(nsynth_root, tmp_path):
    out = tmp_path / "m.jsonl"
    report = prepare("nsynth", nsynth_root, out, split="test")
    rows = lines(out)
    audio = nsynth_root.resolve() / "nsynth-test" / "audio"
    assert rows == [
        {"audio": str(audio / "guitar_acoustic_010-066-100.wav"), "task": "note_analysis", "dataset": "nsynth",
         "split": "test", "id": "guitar_acoustic_010-066-100", "pitch": 66, "velocity": 100, "instrument": "guitar",
         "sonic": ["bright", "percussive"], "audio_lang": "unknown"},
        {"audio": str(audio / "keyboard_electronic_001-021-127.wav"), "task": "note_analysis", "dataset": "nsynth",
         "split": "test", "id": "keyboard_electronic_001-021-127", "pitch": 21, "velocity": 127,
         "instrument": "keyboard", "sonic": [], "audio_lang": "unknown"},
    ]
    assert report["tasks"] == Counter(note_analysis=2) and "bass_synthetic_033-050-050.wav" in report["skipped"][0]
    with pytest.raises(FileNotFoundError, match=r"nsynth-valid/examples\.json: not found"):
        prepare("nsynth", nsynth_root, out, split="valid")


# every corpus, the split its fixture holds
CASES = {"librispeech": "test-clean", "aishell1": "test", "covost2": "test", "clotho": "evaluation",
         "clothoaqa": "test", "audiocaps": "test", "cochlscene": "Test", "tut2017": "development",
         "vocalsound": "test", "meld": "test", "nsynth": "test"}


def test_every_adapter_has_a_case():
    assert sorted(CASES) == sorted(ADAPTERS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_written_lines_pass_the_manifest_validator(name, request, tmp_path):
    out = tmp_path / f"{name}.jsonl"
    report = prepare(name, request.getfixturevalue(f"{name}_root"), out, split=CASES[name])
    examples = read_manifest(out)
    assert len(examples) == report["lines"]
    assert all(ex["_duration"] > 0 for ex in examples)


# ---------------------------------------------------------------------------------------------- prepare

def test_unknown_corpus_split_and_option_are_named(librispeech_root, tmp_path):
    with pytest.raises(ValueError, match=r"unknown corpus 'librispeeh'.*aishell1.*did you mean 'librispeech'"):
        prepare("librispeeh", librispeech_root, tmp_path / "m.jsonl")
    with pytest.raises(ValueError, match=r"unknown librispeech split 'test_clean'.*did you mean 'test-clean'"):
        prepare("librispeech", librispeech_root, tmp_path / "m.jsonl", split="test_clean")
    with pytest.raises(ValueError, match=r"corpus 'librispeech' takes no option\(s\) pair; its options: none"):
        prepare("librispeech", librispeech_root, tmp_path / "m.jsonl", pair="fr_en")
    with pytest.raises(FileNotFoundError, match="corpus folder not found"):
        prepare("librispeech", tmp_path / "nowhere", tmp_path / "m.jsonl")


def test_a_failure_leaves_the_old_manifest_untouched(librispeech_root, tmp_path):
    out = tmp_path / "m.jsonl"
    out.write_text("old\n")
    trans = librispeech_root / "LibriSpeech" / "test-clean" / "2902" / "9006" / "2902-9006.trans.txt"
    trans.write_text(trans.read_text() + "garbage line\n")  # fails after the first transcript was written
    with pytest.raises(ValueError, match=r"2902-9006\.trans\.txt:2"):
        prepare("librispeech", librispeech_root, out)
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["ls", "m.jsonl"]
    write(librispeech_root / "LibriSpeech" / "dev-clean" / "1" / "2" / "1-2.trans.txt", "1-2-0000 NO AUDIO\n")
    with pytest.raises(ValueError, match="no examples to write.*all 1 skipped"):  # and no empty manifest either
        prepare("librispeech", librispeech_root, tmp_path / "new.jsonl", split="dev-clean")
    assert not (tmp_path / "new.jsonl").exists()


# ---------------------------------------------------------------------------------------------- Hugging Face

def _wav_bytes(x: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _signal(n: int, freq: float) -> np.ndarray:
    """A sine on the 16-bit grid, so a PCM_16 round trip is exact up to scaling."""
    return (np.round(0.3 * np.sin(2 * np.pi * freq * np.arange(n) / SR) * 32767) / 32767).astype(np.float32)


def test_from_hf_dataset_with_an_audio_column(tmp_path):
    datasets = pytest.importorskip("datasets")
    signals = [_signal(3200, 440.0), _signal(4000, 660.0)]
    features = datasets.Features({"audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
                                  "sentence": datasets.Value("string"), "utt": datasets.Value("string"),
                                  "emotion": datasets.ClassLabel(names=["neutral", "joy"])})
    test = datasets.Dataset.from_dict(
        {"audio": [{"bytes": _wav_bytes(x), "path": f"clip{i}.wav"} for i, x in enumerate(signals)],
         "sentence": ["Hi there, Joe.", "Okay."], "utt": ["u0", "u1"], "emotion": [1, 0]}, features=features)
    test = test.cast_column("audio", datasets.Audio())  # the Audio feature, as load_dataset gives it
    datasets.DatasetDict({"train": test.select([0]), "test": test}).save_to_disk(str(tmp_path / "hf"))

    out = tmp_path / "out" / "toy.jsonl"
    report = from_hf_dataset(tmp_path / "hf", out, "ser", columns={"text": "sentence", "label": "emotion", "id": "utt"},
                             split="test", audio_lang="en", dataset="toy")
    written = (tmp_path / "out" / "toy_audio").resolve()
    assert lines(out) == [
        {"audio": str(written / "000000.wav"), "task": "ser", "dataset": "toy", "split": "test", "id": "u0",
         "text": "Hi there, Joe.", "label": "joy", "audio_lang": "en"},
        {"audio": str(written / "000001.wav"), "task": "ser", "dataset": "toy", "split": "test", "id": "u1",
         "text": "Okay.", "label": "neutral", "audio_lang": "en"},
    ]
    assert report == {"lines": 2, "tasks": Counter(ser=2), "skipped": []}
    for ex, x in zip(lines(out), signals):
        y, sr = sf.read(ex["audio"], dtype="float32")
        assert sr == SR and np.array_equal(y, sf.read(io.BytesIO(_wav_bytes(x)), dtype="float32")[0])
    assert len(read_manifest(out)) == 2
    with pytest.raises(ValueError, match="splits train, test; choose one with split="):
        from_hf_dataset(tmp_path / "hf", out, "ser", columns={"label": "emotion"})
    with pytest.raises(ValueError, match=r"no column\(s\) 'mood'; columns: audio, sentence, utt, emotion"):
        from_hf_dataset(tmp_path / "hf", out, "ser", columns={"label": "mood"}, split="test")


def test_from_hf_dataset_with_arrays_and_paths(tmp_path):
    datasets = pytest.importorskip("datasets")
    signals = [_signal(1600, 300.0), _signal(2400, 500.0)]
    arrays = datasets.Dataset.from_dict({
        "audio": [{"array": x.tolist(), "sampling_rate": SR} for x in signals], "kind": ["cough", "sniff"]})
    arrays.save_to_disk(str(tmp_path / "arrays"))
    report = from_hf_dataset(tmp_path / "arrays", tmp_path / "a.jsonl", "vsc", columns={"label": "kind"},
                             audio_dir=tmp_path / "wavs", audio_lang="en")
    rows = lines(tmp_path / "a.jsonl")
    assert rows[1] == {"audio": str((tmp_path / "wavs" / "000001.wav").resolve()), "task": "vsc", "dataset": "arrays",
                       "id": "1", "label": "sniff", "audio_lang": "en"}
    for ex, x in zip(rows, signals):
        info = sf.info(ex["audio"])
        y, _ = sf.read(ex["audio"], dtype="float32")
        assert info.subtype == "PCM_16" and info.samplerate == SR
        np.testing.assert_allclose(y, x, atol=1.5 / 32768)
    assert report["tasks"] == Counter(vsc=2)

    clip = tone(tmp_path / "clips" / "a.wav")
    paths = datasets.Dataset.from_dict({"audio": [str(clip), "clips/missing.wav"], "label": ["Bus", "Park"]})
    paths.save_to_disk(str(tmp_path / "paths"))
    report = from_hf_dataset(tmp_path / "paths", tmp_path / "p.jsonl", "asc", columns={"label": "label"})
    assert lines(tmp_path / "p.jsonl") == [{"audio": str(clip.resolve()), "task": "asc", "dataset": "paths",
                                            "id": "0", "label": "Bus"}]
    assert "missing.wav: audio file not found" in report["skipped"][0]


def test_cli_data_prepare_and_tasks(librispeech_root, tmp_path, capsys):
    from qa_lab.cli import main
    out = tmp_path / "ls.jsonl"
    main(["data", "prepare", "librispeech", str(librispeech_root), str(out), "--split", "test-clean"])
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "asr x" in printed
    assert all(ex["task"] == "asr" for ex in lines(out))
    with pytest.raises(SystemExit) as e:
        main(["data", "prepare", "librispeech", str(librispeech_root), str(out), "--option", "nokey"])
    assert e.value.code == 2 and "expected key=value" in capsys.readouterr().err
    main(["tasks"])
    table = capsys.readouterr().out
    assert "grounding" in table and "<|audio_grounding|><|startofword|>" in table
