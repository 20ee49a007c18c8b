"""Corpus adapters: public corpora in their original on-disk layout -> qa_lab JSONL manifests.

Each adapter reads one corpus as its authors distribute it and yields manifest examples (dicts) or
`Skipped` reasons (an example whose audio file is missing). `prepare` runs one and writes the manifest
atomically; `from_hf_dataset` imports a Hugging Face `datasets` dataset saved with `save_to_disk`.
Adapters never decode audio; they only check that the files exist.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from qa_lab.errors import unknown
from qa_lab.prompts.tags import LANGUAGES

log = logging.getLogger(__name__)


class Skipped(str):
    """Why one example was left out (yielded by an adapter instead of an example)."""


def _resolve(root: str | Path) -> Path:
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found")
    return root


def _base(root: str | Path, inner: str, *markers: str) -> Path:
    """root/inner, or root itself when it already is that folder (it holds one of `markers`)."""
    root = _resolve(root)
    if not (root / inner).is_dir() and any((root / m).exists() for m in markers):
        return root
    return root / inner


def _pick(corpus: str, split: str | None, valid: Sequence[str], default: Sequence[str],
          exists: Callable[[str], bool]) -> list[str]:
    """[split] checked against `valid` (case-insensitively), or every split of `default` found on disk.

    When none is found the first default is returned, so the adapter's error names its expected files.
    """
    if split is not None:
        if split not in valid:
            folded = {v.lower(): v for v in valid}
            if split.lower() not in folded:
                raise unknown(f"{corpus} split", split, valid)
            split = folded[split.lower()]
        return [split]
    return [s for s in default if exists(s)] or [default[0]]


def _example(dataset: str, split: str | None, id: str, audio: Path, task: str, **fields) -> dict:
    """A manifest line with the common fields first."""
    ex = {"audio": str(audio), "task": task, "dataset": dataset}
    if split is not None:
        ex["split"] = split
    ex["id"] = id
    ex.update(fields)
    return ex


def _missing_audio(audio: Path, where: str) -> Skipped:
    return Skipped(f"{audio}: audio file not found ({where})")


def _rows(path: Path, columns: Sequence[str], **fmt) -> Iterator[tuple[int, dict]]:
    """(line number, row) for each record of a CSV/TSV file with a header row (BOM allowed).

    ValueError naming path:line for a missing header column, a record with too few or too many fields,
    or text that is not UTF-8.
    """
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, **fmt)
        start = 1
        try:
            header = reader.fieldnames or []
            lacking = [c for c in columns if c not in header]
            if lacking:
                raise ValueError(f"{path}:1: header lacks column(s) {', '.join(map(repr, lacking))}; "
                                 f"found {header}, expected {list(columns)}")
            start = reader.line_num + 1
            for row in reader:
                if None in row or None in row.values():
                    more = "more" if None in row else "fewer"
                    raise ValueError(f"{path}:{start}: {more} fields than the header's {len(header)} "
                                     f"({', '.join(header)})")
                yield start, row
                start = reader.line_num + 1
        except (UnicodeDecodeError, csv.Error) as e:
            raise ValueError(f"{path}:{start}: unreadable record ({e})") from None


def _json(path: Path):
    try:
        with path.open(encoding="utf-8-sig") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None


# ---------------------------------------------------------------------------------------------- speech

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


# ---------------------------------------------------------------------------------------------- sound

CLOTHO_SPLITS = ("development", "validation", "evaluation")


def clotho(root: str | Path, split: str | None = None) -> Iterator[dict | Skipped]:
    """Clotho: clotho_captions_<split>.csv (file_name, caption_1..5) + <split>/ audio (aac, one line a caption)."""
    root = _resolve(root)
    captions = [f"caption_{i}" for i in range(1, 6)]
    for s in _pick("clotho", split, CLOTHO_SPLITS, CLOTHO_SPLITS,
                   lambda s: (root / f"clotho_captions_{s}.csv").is_file()):
        path, audio_dir = root / f"clotho_captions_{s}.csv", root / s
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; expected Clotho's caption file (columns file_name, "
                                    f"caption_1 ... caption_5) beside the audio folder {audio_dir}/")
        if not audio_dir.is_dir():
            raise FileNotFoundError(f"{audio_dir}: not found; expected the Clotho {s} audio (the extracted "
                                    f"clotho_audio_{s}.7z) holding the .wav files named in {path.name}")
        for lineno, row in _rows(path, ("file_name", *captions)):
            audio = audio_dir / row["file_name"]
            refs = [row[c].strip() for c in captions if row[c].strip()]
            if not refs:
                yield Skipped(f"{path}:{lineno}: no caption")
                continue
            if not audio.is_file():
                yield _missing_audio(audio, f"{path.name}:{lineno}")
                continue
            for ref in refs:
                yield _example("clotho", s, row["file_name"], audio, "aac", text=ref, references=refs,
                               instruction="<|caption_clotho|>", audio_lang="unknown")


CLOTHOAQA_SPLITS = ("train", "val", "test")


def clothoaqa(root: str | Path, split: str | None = None) -> Iterator[dict | Skipped]:
    """ClothoAQA: clotho_aqa_<split>.csv (file_name, QuestionText, answer, confidence) + audio_files/ (aqa).

    One line per CSV row (each question has several annotators' answers); `references` lists all answers
    to that question and `confidence` keeps the annotator's yes/maybe/no.
    """
    root = _resolve(root)
    audio_dir = root / "audio_files"
    for s in _pick("clothoaqa", split, CLOTHOAQA_SPLITS, CLOTHOAQA_SPLITS,
                   lambda s: (root / f"clotho_aqa_{s}.csv").is_file()):
        path = root / f"clotho_aqa_{s}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; expected ClothoAQA's CSV (columns file_name, QuestionText, "
                                    f"answer, confidence) beside {audio_dir}/")
        if not audio_dir.is_dir():
            raise FileNotFoundError(f"{audio_dir}: not found; expected ClothoAQA's audio folder of .wav files")
        rows = [(lineno, {k: (v or "").strip() for k, v in row.items()})
                for lineno, row in _rows(path, ("file_name", "QuestionText", "answer", "confidence"))]
        answers = defaultdict(list)
        for _, row in rows:
            if row["answer"]:
                answers[row["file_name"], row["QuestionText"]].append(row["answer"])
        for lineno, row in rows:
            audio = audio_dir / row["file_name"]
            if not row["QuestionText"] or not row["answer"]:
                yield Skipped(f"{path}:{lineno}: empty question or answer")
                continue
            if not audio.is_file():
                yield _missing_audio(audio, f"{path.name}:{lineno}")
                continue
            yield _example("clothoaqa", s, row["file_name"], audio, "aqa", question=row["QuestionText"],
                           answer=row["answer"], audio_lang="en", confidence=row["confidence"],
                           references=answers[row["file_name"], row["QuestionText"]])


AUDIOCAPS_SPLITS = ("train", "val", "test")


def audiocaps(root: str | Path, split: str | None = None,
              audio_dir: str | Path | None = None) -> Iterator[dict | Skipped]:
    """AudioCaps: <split>.csv (audiocap_id, youtube_id, start_time, caption) + downloaded clips (aac).

    AudioCaps ships no audio: clips named <youtube_id>.wav or Y<youtube_id>.wav (or .flac) are looked up in
    `audio_dir`, else <ROOT>/<split>/, <ROOT>/audio/<split>/, <ROOT>/audio/; clips not found are skipped.
    """
    root = _resolve(root)
    for s in _pick("audiocaps", split, AUDIOCAPS_SPLITS, AUDIOCAPS_SPLITS, lambda s: (root / f"{s}.csv").is_file()):
        path = root / f"{s}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; expected AudioCaps' CSV with columns audiocap_id, "
                                    "youtube_id, start_time, caption")
        candidates = ([Path(audio_dir).expanduser().resolve()] if audio_dir
                      else [root / s, root / "audio" / s, root / "audio"])
        folders = [d for d in candidates if d.is_dir()]
        if not folders:
            raise FileNotFoundError(f"AudioCaps {s}: no audio folder; AudioCaps ships no audio, so download the clips "
                                    f"as <youtube_id>.wav or Y<youtube_id>.wav into one of "
                                    f"{', '.join(map(str, candidates))} (or pass audio_dir=)")
        clips = defaultdict(list)  # youtube_id -> [(line, row)], in file order
        for lineno, row in _rows(path, ("audiocap_id", "youtube_id", "start_time", "caption")):
            clips[row["youtube_id"].strip()].append((lineno, row))
        for yid, rows in clips.items():
            names = [f"{prefix}{yid}{ext}" for ext in (".wav", ".flac") for prefix in ("", "Y")]
            audio = next((d / n for d in folders for n in names if (d / n).is_file()), None)
            if audio is None:
                yield Skipped(f"{folders[0] / names[0]}: audio file not found (AudioCaps {s} clip {yid}, also "
                              f"tried Y{yid} and .flac in {', '.join(map(str, folders))})")
                continue
            refs = [row["caption"].strip() for _, row in rows if row["caption"].strip()]
            for _, row in rows:
                if row["caption"].strip():
                    yield _example("audiocaps", s, yid, audio, "aac", text=row["caption"].strip(), references=refs,
                                   instruction="<|caption_audiocaps|>", audio_lang="unknown",
                                   audiocap_id=row["audiocap_id"].strip())


COCHLSCENE_SPLITS = ("Train", "Val", "Test")


def cochlscene(root: str | Path, split: str | None = None) -> Iterator[dict | Skipped]:
    """CochlScene: <ROOT>/CochlScene/<Train|Val|Test>/<SceneClass>/<clip>.wav (asc, label = class folder)."""
    base = _base(root, "CochlScene", *COCHLSCENE_SPLITS)
    for s in _pick("cochlscene", split, COCHLSCENE_SPLITS, COCHLSCENE_SPLITS, lambda s: (base / s).is_dir()):
        files = sorted((base / s).glob("*/*.wav"))
        if not files:
            raise FileNotFoundError(f"CochlScene {s}: no audio; expected {base}/{s}/<SceneClass>/<clip>.wav "
                                    f"(e.g. {base}/{s}/Bus/...wav)")
        for audio in files:
            yield _example("cochlscene", s, audio.stem, audio, "asc", label=audio.parent.name, audio_lang="unknown")


TUT2017_PARTS = ("development", "evaluation")
TUT2017_SPLITS = TUT2017_PARTS + tuple(f"fold{k}_{p}" for k in range(1, 5) for p in ("train", "evaluate"))


def tut2017(root: str | Path, split: str | None = None) -> Iterator[dict | Skipped]:
    """TUT Acoustic Scenes 2017: TUT-acoustic-scenes-2017-{development,evaluation}/meta.txt + audio/ (asc).

    Splits: 'development' and 'evaluation' (each package's meta.txt), or a cross-validation list of the
    development package, 'fold1_train' ... 'fold4_evaluate' (evaluation_setup/). Labels are kept verbatim.
    """
    root = _resolve(root)

    def package(part: str) -> Path:
        name = f"TUT-acoustic-scenes-2017-{part}"
        return root if root.name == name else root / name

    def meta(s: str) -> tuple[Path, Path]:
        if s in TUT2017_PARTS:
            return package(s), package(s) / "meta.txt"
        return package("development"), package("development") / "evaluation_setup" / f"{s}.txt"

    for s in _pick("tut2017", split, TUT2017_SPLITS, TUT2017_PARTS, lambda s: meta(s)[1].is_file()):
        pkg, path = meta(s)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; expected TUT Acoustic Scenes 2017 metadata, tab-separated "
                                    f"lines 'audio/<clip>.wav<TAB><scene label>' (the {pkg.name} package, with audio/)")
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            for fields in reader:
                fields = [x.strip() for x in fields]
                if not any(fields):
                    continue
                if len(fields) < 2 or not fields[0] or not fields[1]:
                    raise ValueError(f"{path}:{reader.line_num}: expected 'audio/<clip>.wav<TAB><scene label>', "
                                     f"got {chr(9).join(fields)!r}")
                audio = pkg / fields[0]
                if not audio.is_file():
                    yield _missing_audio(audio, f"{path.name}:{reader.line_num}")
                    continue
                yield _example("tut2017", s, audio.stem, audio, "asc", label=fields[1], audio_lang="unknown")


# ---------------------------------------------------------------------------------------------- vocal / emotion

VOCALSOUND_LABELS = ("laughter", "sigh", "cough", "throatclearing", "sneeze", "sniff")
VOCALSOUND_LISTS = {"train": "tr", "val": "val", "test": "te"}  # split -> datafiles/<name>.json


def vocalsound(root: str | Path, split: str | None = None,
               audio_folder: str = "audio_16k") -> Iterator[dict | Skipped]:
    """VocalSound: audio_16k/<gender><speaker>_<take>_<label>.wav, split by datafiles/{tr,val,te}.json (vsc).

    Without datafiles/ (or with split='all') every file of the audio folder is taken.
    `audio_folder='audio_44k'` reads the 44.1 kHz release.
    """
    root = _resolve(root)
    audio_root = root / audio_folder
    if not audio_root.is_dir():
        raise FileNotFoundError(f"{audio_root}: not found; expected VocalSound's audio folder of "
                                "<gender><speaker>_<take>_<label>.wav files, e.g. f0003_0_cough.wav")
    lists = {s: root / "datafiles" / f"{name}.json" for s, name in VOCALSOUND_LISTS.items()}
    if split is None:
        splits = [s for s, p in lists.items() if p.is_file()] or ["all"]
    else:
        splits = _pick("vocalsound", split, (*lists, "all"), (), lambda s: False)
    for s in splits:
        if s == "all":
            source, names = audio_root, sorted(p.name for p in audio_root.glob("*.wav"))
        else:
            source = lists[s]
            if not source.is_file():
                raise FileNotFoundError(f"{source}: not found; expected VocalSound's split list "
                                        '({"data": [{"wav": ".../audio_16k/f0003_0_cough.wav", "labels": ...}]}); '
                                        f"use split='all' to take every file in {audio_root}")
            data = _json(source)
            try:
                names = [Path(item["wav"]).name for item in data["data"]]
            except (KeyError, TypeError) as e:
                raise ValueError(f"{source}: expected {{\"data\": [{{\"wav\": path, ...}}, ...]}} ({e!r})") from None
        for name in names:
            speaker, *rest = Path(name).stem.split("_")
            if len(rest) != 2 or rest[1] not in VOCALSOUND_LABELS:
                raise ValueError(f"{source}: file name {name!r} is not <gender><speaker>_<take>_<label>.wav with a "
                                 f"label in {', '.join(VOCALSOUND_LABELS)}")
            audio = audio_root / name
            if not audio.is_file():
                yield _missing_audio(audio, source.name)
                continue
            yield _example("vocalsound", s, Path(name).stem, audio, "vsc", label=rest[1], audio_lang="en",
                           speaker=speaker)


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


# ---------------------------------------------------------------------------------------------- music

NSYNTH_SPLITS = ("train", "valid", "test")


def nsynth(root: str | Path, split: str | None = None) -> Iterator[dict | Skipped]:
    """NSynth: nsynth-<split>/examples.json + audio/<note_str>.wav (note_analysis: pitch, velocity, instrument)."""
    root = _resolve(root)

    def folder(s: str) -> Path:
        return root if root.name == f"nsynth-{s}" else root / f"nsynth-{s}"

    for s in _pick("nsynth", split, NSYNTH_SPLITS, NSYNTH_SPLITS, lambda s: (folder(s) / "examples.json").is_file()):
        path = folder(s) / "examples.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; expected NSynth's examples.json ({{note_str: {{pitch, "
                                    "velocity, instrument_family_str, qualities_str, ...}}) beside audio/<note_str>.wav")
        notes = _json(path)
        if not isinstance(notes, dict):
            raise ValueError(f"{path}: expected a JSON object keyed by note_str, got {type(notes).__name__}")
        for key, note in notes.items():
            try:
                pitch, velocity, family = note["pitch"], note["velocity"], note["instrument_family_str"]
                sonic = list(note.get("qualities_str") or [])
            except (KeyError, TypeError) as e:
                raise ValueError(f"{path}: note {key!r} lacks {e} "
                                 "(needs pitch, velocity, instrument_family_str)") from None
            if any(isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= 127 for x in (pitch, velocity)):
                raise ValueError(f"{path}: note {key!r}: pitch {pitch!r} and velocity {velocity!r} must be 0-127")
            audio = path.parent / "audio" / f"{key}.wav"
            if not audio.is_file():
                yield _missing_audio(audio, path.name)
                continue
            yield _example("nsynth", s, key, audio, "note_analysis", pitch=pitch, velocity=velocity,
                           instrument=family, sonic=sonic, audio_lang="unknown")


ADAPTERS: dict[str, Callable[..., Iterator[dict | Skipped]]] = {
    "librispeech": librispeech, "aishell1": aishell1, "covost2": covost2, "clotho": clotho,
    "clothoaqa": clothoaqa, "audiocaps": audiocaps, "cochlscene": cochlscene, "tut2017": tut2017,
    "vocalsound": vocalsound, "meld": meld, "nsynth": nsynth,
}


def _write(items: Iterable[dict | Skipped], out: str | Path, source: str) -> dict:
    """Write examples to `out` via a temporary file beside it, replaced atomically; nothing is written on error."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tasks, skipped, n = Counter(), [], 0
    try:
        with tmp.open("w", encoding="utf-8") as f:
            for item in items:
                if isinstance(item, Skipped):
                    skipped.append(str(item))
                    continue
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
                tasks[item["task"]] += 1
                n += 1
        if n == 0:
            first = f"; all {len(skipped)} skipped, first: {skipped[0]}" if skipped else ""
            raise ValueError(f"{source}: no examples to write to {out}{first}")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if skipped:
        log.warning("%s: skipped %d example(s), first: %s", out, len(skipped), skipped[0])
    return {"lines": n, "tasks": tasks, "skipped": skipped}


def prepare(name: str, root: str | Path, out: str | Path, split: str | None = None, **options) -> dict:
    """Read corpus `name` at `root` and write its manifest to `out` (atomically).

    Returns {"lines": n, "tasks": Counter(task -> lines), "skipped": [reason, ...]}. `split` None takes every
    split found on disk; `options` go to the adapter (e.g. pair='fr_en' for covost2).
    """
    if name not in ADAPTERS:
        raise unknown("corpus", name, list(ADAPTERS))
    adapter = ADAPTERS[name]
    accepted = [p for p in inspect.signature(adapter).parameters if p not in ("root", "split")]
    bad = [o for o in options if o not in accepted]
    if bad:
        raise ValueError(f"corpus {name!r} takes no option(s) {', '.join(bad)}; "
                         f"its options: {', '.join(accepted) or 'none'}")
    return _write(adapter(root, split, **options), out, f"{name} at {root}")


# ---------------------------------------------------------------------------------------------- Hugging Face

_SOUNDFILE_EXT = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg", "MP3": ".mp3"}


def _hf_audio(item, dataset_dir: Path, stem: Path, where: str) -> Path | Skipped:
    """One audio-column item -> an absolute audio path, writing bytes or arrays to `stem`.<ext> when needed."""
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, dict):
        return Skipped(f"{where}: audio item is {type(item).__name__}, not a path or a dict")
    if item.get("array") is not None:
        array = np.asarray(item["array"])
        if not item.get("sampling_rate"):
            raise ValueError(f"{where}: audio array without a sampling_rate")
        if array.ndim == 2 and array.shape[0] < array.shape[1]:
            array = array.T  # (channels, T) -> (T, channels), as soundfile wants
        target = stem.with_suffix(".wav")
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(target), array, int(item["sampling_rate"]), subtype="PCM_16")
        return target.resolve()
    if item.get("bytes"):
        try:
            fmt = sf.info(io.BytesIO(item["bytes"])).format
        except (sf.LibsndfileError, RuntimeError, TypeError) as e:
            return Skipped(f"{where}: audio bytes that soundfile cannot decode ({e})")
        target = stem.with_suffix(_SOUNDFILE_EXT.get(fmt, f".{fmt.lower()}"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(item["bytes"])  # as stored: no re-encoding
        return target.resolve()
    if item.get("path"):
        path = Path(item["path"]).expanduser()
        path = path if path.is_absolute() else dataset_dir / path
        return path.resolve() if path.is_file() else _missing_audio(path, where)
    return Skipped(f"{where}: audio item has no path, bytes or array")


def from_hf_dataset(path: str | Path, out: str | Path, task: str, audio_column: str = "audio",
                    columns: dict[str, str] | None = None, split: str | None = None,
                    audio_dir: str | Path | None = None, **fixed_fields) -> dict:
    """Import a Hugging Face dataset saved with `save_to_disk` as a manifest of task `task`, one line a row.

    `columns` maps manifest fields to dataset columns ({"text": "sentence", "id": "utt_id"}); ClassLabel
    columns are written as label names. `fixed_fields` go on every line (audio_lang="en", dataset="mine").
    Audio items may carry a file path (kept; relative paths are against the dataset folder), encoded bytes
    (written as they are) or a decoded array with sampling_rate (written as 16-bit wav); written files go
    to `audio_dir` (default <out stem>_audio/ beside `out`). `split` picks one split of a DatasetDict.
    Returns what `prepare` returns.
    """
    from qa_lab.prompts.tasks import get
    get(task)  # a typo in the task name fails before any work (names the closest registered task)
    from datasets import Audio, ClassLabel, DatasetDict, load_from_disk  # lazy: an optional dependency

    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: not found; expected a folder written by datasets' save_to_disk")
    columns = dict(columns or {})
    for field, source in (("audio", "audio_column="), ("task", "task=")):
        if field in columns or field in fixed_fields:
            raise ValueError(f"the manifest's {field!r} field comes from {source}; do not map or fix it")
    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        if split is None and len(ds) == 1:
            split = next(iter(ds))
        if split is None:
            raise ValueError(f"{path}: a DatasetDict with splits {', '.join(ds)}; choose one with split=")
        if split not in ds:
            raise unknown(f"split of {path}", split, list(ds))
        ds = ds[split]
    lacking = [c for c in (audio_column, *columns.values()) if c not in ds.column_names]
    if lacking:
        raise ValueError(f"{path}: no column(s) {', '.join(map(repr, lacking))}; columns: {', '.join(ds.column_names)}")
    if isinstance(ds.features[audio_column], Audio):
        ds = ds.cast_column(audio_column, Audio(decode=False))  # {bytes, path}: no torchcodec needed
    names = {f: ds.features[c].int2str for f, c in columns.items() if isinstance(ds.features[c], ClassLabel)}
    out = Path(out)
    audio_dir = Path(audio_dir).expanduser().resolve() if audio_dir else out.parent.resolve() / f"{out.stem}_audio"
    dataset_name = fixed_fields.pop("dataset", path.name)
    split_name = fixed_fields.pop("split", split)

    def items() -> Iterator[dict | Skipped]:
        for i, row in enumerate(ds):
            audio = _hf_audio(row[audio_column], path, audio_dir / f"{i:06d}", f"{path} row {i}")
            if isinstance(audio, Skipped):
                yield audio
                continue
            fields = {f: names[f](row[c]) if f in names else row[c] for f, c in columns.items()}
            ex_id = str(fields.pop("id", i))
            ex = _example(dataset_name, split_name, ex_id, audio, task)
            ex.update(fields)
            ex.update(fixed_fields)
            yield ex

    return _write(items(), out, str(path))
