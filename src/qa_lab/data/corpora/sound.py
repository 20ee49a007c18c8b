"""Sound corpora: Clotho, ClothoAQA, AudioCaps, CochlScene, TUT 2017 and VocalSound."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from qa_lab.data.corpora.base import Skipped, _base, _example, _json, _missing_audio, _pick, _resolve, _rows

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
