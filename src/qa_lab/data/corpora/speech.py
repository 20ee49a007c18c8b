"""Speech corpora: LibriSpeech, AISHELL-1, CoVoST 2 (speech translation) and MELD (emotion in dialogue)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from qa_lab.data.corpora.base import Skipped, _base, _example, _missing_audio, _pick, _resolve, _rows
from qa_lab.prompts.tags import LANGUAGES

LIBRISPEECH_SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other",
                      "train-clean-100", "train-clean-360", "train-other-500")


def librispeech(root: str | Path, split: str | None = None) -> Iterator[dict | Skipped]:
    """LibriSpeech: <ROOT>/LibriSpeech/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt + .flac (asr, en)."""
    base = _base(root, "LibriSpeech", *LIBRISPEECH_SPLITS)
    for s in _pick("librispeech", split, LIBRISPEECH_SPLITS, LIBRISPEECH_SPLITS, lambda s: (base / s).is_dir()):
        transcripts = sorted((base / s).glob("*/*/*.trans.txt"))
        if not transcripts:
            raise FileNotFoundError(
                f"LibriSpeech {s}: no transcript found; expected {base}/{s}/<speaker>/<chapter>/"
                f"<speaker>-<chapter>.trans.txt (lines '<speaker>-<chapter>-<utt> UPPER-CASE TEXT') "
                f"beside the <speaker>-<chapter>-<utt>.flac files")
        for path in transcripts:
            speaker, chapter = path.parent.parent.name, path.parent.name
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                utt, *text = line.split(maxsplit=1)
                if not text or not utt.startswith(f"{speaker}-{chapter}-"):
                    raise ValueError(f"{path}:{lineno}: expected '{speaker}-{chapter}-<utt> TEXT', got {line!r}")
                audio = path.parent / f"{utt}.flac"
                if not audio.is_file():
                    yield _missing_audio(audio, f"{path.name}:{lineno}")
                    continue
                yield _example("librispeech", s, utt, audio, "asr", text=text[0].strip().lower(), audio_lang="en",
                               speaker=speaker)


AISHELL_SPLITS = ("train", "dev", "test")


def aishell1(root: str | Path, split: str | None = None) -> Iterator[dict | Skipped]:
    """AISHELL-1: data_aishell/transcript/aishell_transcript_v0.8.txt + wav/<split>/<speaker>/<utt>.wav (asr, zh)."""
    base = _base(root, "data_aishell", "transcript", "wav")
    transcript = base / "transcript" / "aishell_transcript_v0.8.txt"
    if not transcript.is_file():
        raise FileNotFoundError(f"{transcript}: not found; expected AISHELL-1's transcript, lines "
                                "'<utterance id> <words separated by spaces>' (BAC009S0002W0122 而 对 楼市 ...)")
    texts = {}
    for lineno, line in enumerate(transcript.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        utt, *words = line.split()
        if not words:
            raise ValueError(f"{transcript}:{lineno}: expected '<utterance id> <text>', got {line!r}")
        texts[utt] = "".join(words)
    wav = base / "wav"
    for s in _pick("aishell1", split, AISHELL_SPLITS, AISHELL_SPLITS, lambda s: (wav / s).is_dir()):
        files = sorted((wav / s).glob("*/*.wav"))
        if not files:
            tarballs = sorted(wav.glob("*.tar.gz"))
            hint = (f"; only {len(tarballs)} per-speaker tarball(s) found in {wav} ({tarballs[0].name}, ...): "
                    f"extract them first (cd {wav} && for f in *.tar.gz; do tar xzf \"$f\"; done)") if tarballs else ""
            raise FileNotFoundError(f"AISHELL-1 {s}: no wav files; expected {wav}/{s}/<speaker>/<utt>.wav, e.g. "
                                    f"{wav}/{s}/S0002/BAC009S0002W0122.wav{hint}")
        for audio in files:
            if audio.stem not in texts:
                yield Skipped(f"{audio}: no transcript for {audio.stem} in {transcript}")
                continue
            yield _example("aishell1", s, audio.stem, audio, "asr", text=texts[audio.stem], audio_lang="zh",
                           speaker=audio.parent.name)


COVOST_SPLITS = ("train", "dev", "test")


def _covost_lang(code: str, where: str) -> str:
    """A CoVoST language code -> the kit's language tag (zh-CN -> zh)."""
    tag = "zh" if code == "zh-CN" else code
    if tag not in LANGUAGES or tag == "unknown":
        raise ValueError(f"{where}: CoVoST language {code!r} has no qa_lab language tag "
                         f"(tags: {', '.join(LANGUAGES[:-1])}; zh-CN maps to zh)")
    return tag


def covost2(root: str | Path, split: str | None = None, pair: str | None = None,
            clips_dir: str | Path | None = None) -> Iterator[dict | Skipped]:
    """CoVoST 2: covost_v2.<src>_<tgt>.tsv (path, sentence, translation, client_id, split) beside clips/ (s2tt).

    Also reads the per-split covost_v2.<src>_<tgt>.<split>.tsv that get_covost_splits.py writes. `pair`
    ('fr_en') picks the language pair when the folder holds several; `clips_dir` overrides <ROOT>/clips.
    """
    root = _resolve(root)
    if pair is None:
        pairs = sorted({p.name.split(".")[1] for p in root.glob("covost_v2.*_*.tsv")})
        if not pairs:
            raise FileNotFoundError(f"{root}/covost_v2.<src>_<tgt>.tsv: not found; expected CoVoST 2's TSV (columns "
                                    "path, sentence, translation, client_id, split) or the covost_v2.<src>_<tgt>."
                                    "<split>.tsv files of get_covost_splits.py, beside Common Voice's clips/ folder")
        if len(pairs) > 1:
            raise ValueError(f"{root}: several CoVoST language pairs ({', '.join(pairs)}); choose one with pair=")
        pair = pairs[0]
    src, _, tgt = pair.partition("_")
    audio_lang = _covost_lang(src, f"covost_v2.{pair}")
    text_lang = _covost_lang(tgt, f"covost_v2.{pair}")
    clips = Path(clips_dir).expanduser().resolve() if clips_dir else root / "clips"
    if not clips.is_dir():
        raise FileNotFoundError(f"{clips}: not found; expected Common Voice's clips/ folder ({src} .mp3 files named "
                                "as the TSV's path column)")
    combined = root / f"covost_v2.{pair}.tsv"
    for s in _pick("covost2", split, COVOST_SPLITS, COVOST_SPLITS,
                   lambda s: combined.is_file() or (root / f"covost_v2.{pair}.{s}.tsv").is_file()):
        tsv = root / f"covost_v2.{pair}.{s}.tsv"
        if not tsv.is_file():
            tsv = combined
        if not tsv.is_file():
            raise FileNotFoundError(f"{combined}: not found (nor {root}/covost_v2.{pair}.{s}.tsv); expected CoVoST 2's "
                                    "TSV with columns path, sentence, translation, client_id, split")
        wanted = {s, f"{s}_covost"} if s == "train" else {s}  # v2 counts train_covost as train
        columns = ("path", "translation") + (("split",) if tsv == combined else ())
        # Common Voice TSVs are unquoted; quotes inside sentences are literal
        for lineno, row in _rows(tsv, columns, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\"):
            if tsv == combined and row["split"] not in wanted:
                continue
            audio = clips / row["path"]
            if not row["translation"].strip():
                yield Skipped(f"{tsv}:{lineno}: empty translation")
                continue
            if not audio.is_file():
                yield _missing_audio(audio, f"{tsv.name}:{lineno}")
                continue
            extra = {"transcript": row["sentence"].strip()} if (row.get("sentence") or "").strip() else {}
            if (row.get("client_id") or "").strip():
                extra["speaker"] = row["client_id"].strip()
            yield _example("covost2", s, Path(row["path"]).stem, audio, "s2tt", text=row["translation"].strip(),
                           audio_lang=audio_lang, text_lang=text_lang, **extra)


MELD_SPLITS = ("train", "dev", "test")
MELD_AUDIO = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}


def meld(root: str | Path, split: str | None = None, audio_dir: str | Path | None = None) -> Iterator[dict | Skipped]:
    """MELD: <split>_sent_emo.csv + dia<D>_utt<U>.wav in the split's clip folder (ser, label = Emotion).

    MELD ships .mp4 video, which soundfile cannot decode: extract 16 kHz wav files with the same stem
    beside the videos (ffmpeg). Clip folders: train_splits/, dev_splits_complete/, output_repeated_splits_test/
    (directly under ROOT or under ROOT/<split>/), or `audio_dir`.
    """
    root = _resolve(root)

    def csv_path(s: str) -> Path:
        options = [root / f"{s}_sent_emo.csv", root / s / f"{s}_sent_emo.csv"]
        return next((p for p in options if p.is_file()), options[0])

    for s in _pick("meld", split, MELD_SPLITS, MELD_SPLITS, lambda s: csv_path(s).is_file()):
        path = csv_path(s)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; expected MELD's {s}_sent_emo.csv (columns Sr No., Utterance, "
                                    "Speaker, Emotion, Sentiment, Dialogue_ID, Utterance_ID, ...)")
        candidates = ([Path(audio_dir).expanduser().resolve()] if audio_dir
                      else [root / MELD_AUDIO[s], root / s / MELD_AUDIO[s], root / s])
        folder = next((d for d in candidates if d.is_dir()), None)
        if folder is None:
            raise FileNotFoundError(f"MELD {s}: no clip folder; expected dia<D>_utt<U>.wav files in one of "
                                    f"{', '.join(map(str, candidates))} (or pass audio_dir=)")
        for lineno, row in _rows(path, ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")):
            try:
                stem = f"dia{int(row['Dialogue_ID'])}_utt{int(row['Utterance_ID'])}"
            except ValueError:
                raise ValueError(f"{path}:{lineno}: Dialogue_ID {row['Dialogue_ID']!r} and Utterance_ID "
                                 f"{row['Utterance_ID']!r} must be integers") from None
            audio = next((folder / f"{stem}{ext}" for ext in (".wav", ".flac") if (folder / f"{stem}{ext}").is_file()),
                         None)
            if audio is None:
                video = folder / f"{stem}.mp4"
                if video.is_file():
                    raise FileNotFoundError(
                        f"{folder / stem}.wav: not found, only the video {video.name} (soundfile cannot decode .mp4). "
                        f"Extract MELD's audio to 16 kHz wav files with the same stem first, e.g. with ffmpeg: "
                        f"for f in {folder}/*.mp4; do ffmpeg -nostdin -loglevel error -i \"$f\" -vn -ac 1 -ar 16000 "
                        f"\"${{f%.mp4}}.wav\"; done")
                yield _missing_audio(folder / f"{stem}.wav", f"{path.name}:{lineno}")
                continue
            yield _example("meld", s, stem, audio, "ser", label=row["Emotion"].strip(), audio_lang="en",
                           speaker=row["Speaker"].strip(), text=row["Utterance"].strip(),
                           sentiment=row["Sentiment"].strip())
