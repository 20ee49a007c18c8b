"""The built-in audio world: seeded, procedurally generated clips with exact ground truth for 20 tasks.

Eight generators make clips; each clip writes one manifest line per task it serves, and every line
carries the clip's full ground truth (words with times, events with onsets and offsets, notes):

  speech        one sentence, one speaker   asr srwt lid speaker_id gender speaking_rate ser kws grounding
  translation   a parallel sentence         s2tt
  noisy_speech  speech over a background    asr_noise
  event         one event, quiet background event
  scene         background + events (+ speech) asc sed aac aqa
  count         one event class repeated    count
  note          one synthesised note        note_analysis instrument
  phrase        a melody at a tempo         tempo instrument

Splits: train, val and test. Test clips use speakers, sentences and event / (instrument, pitch)
combinations that training never sees (speaker_id, a closed-set task, keeps training speakers with
new sentences). Everything is a pure function of (config, seed, clip index), so builds are
byte-identical whatever the number of worker processes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from qa_lab.config import Config, WorldConfig
from qa_lab.data.cache import building, is_complete
from qa_lab.frames import SAMPLE_RATE
from qa_lab.prompts import tasks as registry
from qa_lab.world import dialogues, sounds, speech

WORLD_VERSION = 2  # bump when generation changes: part of the cache key
SPLITS = ("train", "val", "test")
# clips per generator and split, per size
SIZES = {"tiny": (24, 4, 4), "small": (400, 40, 40), "full": (12000, 600, 600)}
GENERATORS: dict[str, tuple[str, ...]] = {
    "speech": ("asr", "srwt", "lid", "speaker_id", "gender", "speaking_rate", "ser", "kws", "grounding"),
    "translation": ("s2tt",),
    "noisy_speech": ("asr_noise",),
    "event": ("event",),
    "scene": ("asc", "sed", "aac", "aqa"),
    "count": ("count",),
    "note": ("note_analysis", "instrument"),
    "phrase": ("tempo", "instrument"),
}
CLIP_TASKS = tuple(dict.fromkeys(t for ts in GENERATORS.values() for t in ts))
# Dialogues about the clips of other generators (qa_lab.world.dialogues): built only when asked for by name, so a
# world of every clip task (tasks null) is what it was before dialogues existed.
DIALOGUE_NEEDS = {"chat_followup": ("speech",), "chat_scene": ("scene",), "chat_compare": ("scene",),
                  "chat_speakers": ("speech",), "chat_text": ()}
TASKS = (*CLIP_TASKS, *DIALOGUE_NEEDS)
LANGUAGE_NAMES = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "zh": "chinese"}

# Prosody of the emotion proxy (offsets on the speaker's pitch, pitch range 0-100, volume 0-200).
# A proxy: espeak-ng has no emotions; these are the prosodic cues listeners associate with them.
EMOTIONS = {"neutral": (0, 50, 100), "joy": (18, 95, 125), "sadness": (-18, 10, 65), "anger": (6, 75, 170)}
RATES = {"slow": (110, 130), "normal": (165, 185), "fast": (230, 260)}  # words per minute
TEMPOS = {"slow": (60, 76), "moderate": (100, 120), "fast": (156, 180)}  # beats per minute


# ---------------------------------------------------------------------------------------------
# splitting and seeding

def _rng(seed: int, generator: str, split: str, i: int) -> np.random.Generator:
    return np.random.default_rng([seed, WORLD_VERSION, list(GENERATORS).index(generator), SPLITS.index(split), i])


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


@lru_cache(maxsize=64)
def _sentences(n: int, seed: int, split: str, lang: str) -> tuple[str, ...]:
    return tuple(speech.sentences(n, seed, split, lang=lang))


@lru_cache(maxsize=64)
def _pairs(n: int, seed: int, split: str, src: str, tgt: str) -> tuple[tuple[str, str], ...]:
    return tuple(speech.parallel_sentences(n, seed, split, src, tgt))


def _combo(rng: np.random.Generator, split: str, draw, key) -> object:
    """Draw combinations until one falls in `split` (test combinations are never seen in training)."""
    for _ in range(1000):
        c = draw()
        if speech.split_of(key(c)) == split:
            return c
    raise RuntimeError(f"no {split} combination found in 1000 draws")


# ---------------------------------------------------------------------------------------------
# pieces of clips

def _speak(rng, lang: str, split: str, text: str, speaker: str | None = None, emotion: str = "neutral",
           rate: str = "normal", crowd: float = 0.0) -> tuple[np.ndarray, list[dict], dict]:
    """Synthesise `text` -> (audio, words, facts about the voice).

    With no `speaker` given, a train or val clip is spoken by a crowd voice (speech.crowd_voice; its speaker is
    None) with probability `crowd`, else by a named speaker of the split. Test clips draw nothing for the crowd,
    so the test split does not depend on it."""
    if speaker is None and crowd > 0 and split != "test" and rng.random() < crowd:
        sp = speech.crowd_voice(rng, lang)
    else:
        if speaker is None:
            speaker = _pick(rng, speech.speakers(lang, split))
        sp = speech.SPEAKERS[speaker]
    d_pitch, p_range, volume = EMOTIONS[emotion]
    lo, hi = RATES[rate]
    wpm = int(rng.integers(lo, hi + 1))
    pitch = int(np.clip(sp["pitch"] + d_pitch + rng.integers(-4, 5), 0, 100))
    synth = {"voice": sp["voice"], "rate": wpm, "pitch": pitch, "volume": volume, "pitch_range": p_range}
    audio, words = speech.synthesize(text, **synth)
    return audio, words, {"speaker": speaker, "gender": sp["gender"], "emotion": emotion, "rate": rate,
                          "espeak": synth}


def _shift(words: list[dict], dt: float) -> list[dict]:
    return [{**w, "start": round(w["start"] + dt, 2), "end": round(w["end"] + dt, 2)} for w in words]


def _place(rng, audio: np.ndarray, seconds: float, taken: list[tuple[float, float]], gap: float = 0.15) -> float | None:
    """A random onset (s) where `audio` fits in the clip without overlapping `taken` spans."""
    dur = len(audio) / SAMPLE_RATE
    for _ in range(50):
        t = round(float(rng.uniform(0.2, max(0.21, seconds - dur - 0.2))), 2)
        if all(t + dur + gap <= a or t >= b + gap for a, b in taken):
            return t
    t = round(max([b for _, b in taken], default=0.0) + gap, 2)  # crowded: after the last one, if it fits
    return t if t + dur <= seconds - 0.05 else None


def _event_span(audio: np.ndarray, onset: float) -> tuple[float, float]:
    a, b = sounds.active_span(audio)
    return round(onset + a, 2), round(onset + b, 2)


def _add_event(rng, label: str, ev: np.ndarray, seconds: float, taken: list, items: list, events: list, gap: float,
               gain_db: tuple[float, float]) -> bool:
    """Place event sound `ev` where it overlaps no `taken` span; on success record its span, its sound (at a gain
    drawn from `gain_db`) and its fact in `taken`, `items` and `events` -> whether it fitted."""
    onset = _place(rng, ev, seconds, taken, gap=gap)
    if onset is None:
        return False
    taken.append((onset, onset + len(ev) / SAMPLE_RATE))
    items.append((ev, onset, float(rng.uniform(*gain_db))))
    start, end = _event_span(ev, onset)
    events.append({"label": label, "start": start, "end": end})
    return True


def _spoken(words: list[dict], lang: str) -> str:
    return speech.display_text(" ".join(w["word"] for w in words), lang)


# ---------------------------------------------------------------------------------------------
# generators: (cfg, seed, split, i, n) -> (audio, clip facts, [(task, task fields)])

def _gen_speech(cfg: WorldConfig, seed: int, split: str, i: int, n: int):
    rng = _rng(seed, "speech", split, i)
    lang = _pick(rng, cfg.languages)
    text = _sentences(n, seed, split, lang)[i]
    # speaker ID is closed-set: a quarter of test clips keep training speakers (new sentences) for it
    closed_set = split == "test" and i % 4 == 3
    voice_split = "train" if closed_set else split
    emotion, rate = _pick(rng, tuple(EMOTIONS)), _pick(rng, tuple(RATES))
    audio, words, voice = _speak(rng, lang, voice_split, text, emotion=emotion, rate=rate,
                                 crowd=0.0 if closed_set else cfg.crowd)  # test clips never draw for the crowd
    facts = {"audio_lang": lang, "text_lang": lang, "words": words, **voice}
    if closed_set:
        return audio, facts, [("speaker_id", {"label": voice["speaker"]})]
    keywords = [w["word"] for w in words if w["word"] in speech.KEYWORDS.get(lang, ())]
    target = _pick(rng, words)["word"]
    spans = [[w["start"], w["end"]] for w in words if w["word"] == target]
    lines = [("asr", {"text": _spoken(words, lang)}), ("srwt", {}),
             ("lid", {"label": LANGUAGE_NAMES[lang]}), ("gender", {"label": voice["gender"]}),
             ("speaking_rate", {"label": rate}), ("ser", {"label": emotion}),
             ("kws", {"label": " ".join(keywords) or "none"}),
             ("grounding", {"query": target, "spans": spans})]
    if split != "test" and voice["speaker"] is not None:  # crowd voices have no name to identify
        lines.append(("speaker_id", {"label": voice["speaker"]}))
    return audio, facts, lines


def _gen_translation(cfg: WorldConfig, seed: int, split: str, i: int, n: int):
    rng = _rng(seed, "translation", split, i)
    if len(cfg.languages) < 2:
        src, tgt = cfg.languages[0], ("de" if cfg.languages[0] == "en" else "en")
    else:
        src, tgt = (str(x) for x in rng.choice(cfg.languages, size=2, replace=False))
    source, translation = _pairs(n, seed, split, src, tgt)[i]
    audio, words, voice = _speak(rng, src, split, source, crowd=cfg.crowd)
    facts = {"audio_lang": src, "text_lang": tgt, "words": words, "source_text": _spoken(words, src), **voice}
    return audio, facts, [("s2tt", {"text": speech.display_text(translation, tgt)})]


def _gen_noisy_speech(cfg: WorldConfig, seed: int, split: str, i: int, n: int):
    rng = _rng(seed, "noisy_speech", split, i)
    lang = _pick(rng, cfg.languages)
    text = _sentences(n, seed + 7919, split, lang)[i]
    voice_audio, words, voice = _speak(rng, lang, split, text, rate=_pick(rng, tuple(RATES)), crowd=cfg.crowd)
    seconds = round(len(voice_audio) / SAMPLE_RATE + float(rng.uniform(0.5, 1.5)), 2)
    onset = round(float(rng.uniform(0.1, seconds - len(voice_audio) / SAMPLE_RATE - 0.1)), 2)
    bg_name, snr = _pick(rng, sounds.BACKGROUNDS), round(float(rng.uniform(0.0, 15.0)), 1)
    audio = sounds.mix(sounds.background(bg_name, seconds, rng), [(voice_audio, onset, -20.0)], seconds, snr)
    facts = {"audio_lang": lang, "text_lang": lang, "words": _shift(words, onset), "background": bg_name,
             "snr_db": snr, **voice}
    return audio, facts, [("asr_noise", {"text": _spoken(words, lang)})]


def _quiet_background(rng, seconds: float) -> np.ndarray:
    return sounds.background(_pick(rng, sounds.BACKGROUNDS), seconds, rng)


def _gen_event(cfg: WorldConfig, seed: int, split: str, i: int, n: int):
    rng = _rng(seed, "event", split, i)
    label = _pick(rng, sounds.EVENTS)
    ev = sounds.event(label, rng)
    seconds = round(len(ev) / SAMPLE_RATE + float(rng.uniform(0.6, 2.0)), 2)
    onset = round(float(rng.uniform(0.2, seconds - len(ev) / SAMPLE_RATE - 0.2)), 2)
    audio = sounds.mix(_quiet_background(rng, seconds), [(ev, onset, float(rng.uniform(-26, -16)))], seconds,
                       float(rng.uniform(15, 30)))
    start, end = _event_span(ev, onset)
    return audio, {"events": [{"label": label, "start": start, "end": end}]}, [("event", {"label": label})]


def _gen_count(cfg: WorldConfig, seed: int, split: str, i: int, n: int):
    rng = _rng(seed, "count", split, i)
    label, k = _pick(rng, sounds.EVENTS), int(rng.integers(1, 6))
    seconds = round(float(rng.uniform(4.0, 8.0)), 2)
    items, events, taken = [], [], []
    for _ in range(k):
        ev = sounds.event(label, rng, duration=float(rng.uniform(0.15, 0.5)))
        if not _add_event(rng, label, ev, seconds, taken, items, events, gap=0.25, gain_db=(-24, -18)):
            break
    audio = sounds.mix(_quiet_background(rng, seconds), items, seconds, float(rng.uniform(12, 25)))
    events.sort(key=lambda e: e["start"])
    return audio, {"events": events}, [("count", {"label": str(len(events))})]


_BACKGROUND_PHRASES = {
    "rain": ("rain falls steadily", "rain is pattering"), "engine": ("an engine idles", "an engine rumbles"),
    "hum": ("a low hum fills the room", "an electrical hum drones"), "wind": ("wind blows", "a gusty wind howls"),
    "crowd babble": ("a crowd murmurs", "people chatter in the distance"),
    "birdsong": ("birds sing", "birds are chirping"), "water stream": ("water flows", "a stream trickles"),
    "traffic": ("traffic passes by", "cars drive past"),
}


def _background_phrase(rng, name: str) -> str:
    return _pick(rng, _BACKGROUND_PHRASES.get(name, (f"{name} sounds in the background",)))


def _captions(rng, bg: str, events: list[dict], speech_start: float | None) -> tuple[str, str, list[str]]:
    """(clotho-style caption, audiocaps-style caption, other paraphrases); sounds named in time order."""
    timed = [(e["start"], _pick(rng, sounds.EVENT_PHRASES[e["label"]])) for e in events]
    if speech_start is not None:
        timed.append((speech_start, _pick(rng, ("a person speaks", "someone is talking", "a voice speaks"))))
    phrases = [p for _, p in sorted(timed)]
    first = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and then " + phrases[-1]
    bgp = _background_phrase(rng, bg)
    clotho = [f"{bgp} while {first}", f"{first} as {bgp}", f"in the background {bgp} and {first}"]
    audiocaps = [", then ".join(phrases[:2]), f"{phrases[0]} while {bgp}"]
    c = clotho[int(rng.integers(len(clotho)))]
    a = audiocaps[int(rng.integers(len(audiocaps)))]
    return c, a, [x for x in clotho + audiocaps if x not in (c, a)]


TEMPORAL_QUESTIONS = ("order", "after", "overlap")


def _questions(rng, events: list[dict], speech_span: tuple[float, float] | None) -> list[tuple[str, str, str]]:
    """Yes/no, choice, open and temporal questions about a scene -> (question, answer, kind); kinds: presence,
    count, order, after, overlap (the last three are temporal)."""
    labels = [e["label"] for e in events]
    qs = []
    absent = [x for x in sounds.EVENTS if x not in labels]
    probe = _pick(rng, labels) if (rng.random() < 0.5 or not absent) else _pick(rng, absent)
    qs.append((f"is there a {probe} in the recording", "yes" if probe in labels else "no", "presence"))
    counted = _pick(rng, labels)
    qs.append((f"how many times do you hear a {counted}", str(labels.count(counted)), "count"))
    distinct = list(dict.fromkeys(labels))
    if len(distinct) >= 2:
        a, b = (str(x) for x in rng.choice(distinct, size=2, replace=False))
        first = a if labels.index(a) < labels.index(b) else b
        qs.append((f"which comes first the {a} or the {b}", first, "order"))
        j = int(rng.integers(len(events) - 1))
        if events[j + 1]["label"] != events[j]["label"] and labels.count(events[j]["label"]) == 1:
            qs.append((f"what sound comes right after the {events[j]['label']}", events[j + 1]["label"], "after"))
    if speech_span is not None:
        e = _pick(rng, events)
        if labels.count(e["label"]) == 1:
            talking = speech_span[0] <= e["start"] <= speech_span[1]
            qs.append((f"is anyone speaking when the {e['label']} starts", "yes" if talking else "no", "overlap"))
    k = min(len(qs), 2)
    return [qs[int(j)] for j in sorted(rng.choice(len(qs), size=k, replace=False))]


def _gen_scene(cfg: WorldConfig, seed: int, split: str, i: int, n: int):
    rng = _rng(seed, "scene", split, i)
    scene = _pick(rng, tuple(sounds.SCENES))
    spec = sounds.SCENES[scene]
    k = int(rng.integers(2, 5))
    pool = tuple(spec["events"]) + tuple(sounds.EVENTS)  # mostly the scene's own events
    labels = _combo(rng, split, lambda: [str(_pick(rng, pool if rng.random() < 0.3 else spec["events"]))
                                         for _ in range(k)],
                    lambda c: scene + "|" + ",".join(sorted(c)))
    seconds = round(float(rng.uniform(6.0, 10.0)), 2)
    items, events, taken = [], [], []  # events never overlap each other; speech may overlap them
    speech_span, words, lang = None, None, None
    if rng.random() < 0.5:  # someone talks in half of the scenes
        lang = _pick(rng, cfg.languages)
        text = _sentences(n, seed + 104729, split, lang)[i]
        voice_audio, w, _ = _speak(rng, lang, split, text, crowd=cfg.crowd)
        onset = _place(rng, voice_audio, seconds, [])
        if onset is not None:
            items.append((voice_audio, onset, -22.0))
            words = _shift(w, onset)
            speech_span = (words[0]["start"], words[-1]["end"])
    for label in labels:
        _add_event(rng, label, sounds.event(label, rng), seconds, taken, items, events, gap=0.2, gain_db=(-24, -16))
    events.sort(key=lambda e: (e["start"], e["end"]))
    bg = _pick(rng, spec["backgrounds"])
    audio = sounds.mix(sounds.background(bg, seconds, rng), items, seconds, float(rng.uniform(6, 18)))
    clotho, audiocaps, others = _captions(rng, bg, events, speech_span[0] if speech_span else None)
    facts = {"scene": scene, "background": bg, "events": events, "audio_lang": "unknown"}
    if words:
        facts.update(words=words, speech_lang=lang)
    lines = [("asc", {"label": scene}), ("sed", {}),
             ("aac", {"text": clotho, "instruction": "<|caption_clotho|>", "references": [clotho] + others}),
             ("aac", {"text": audiocaps, "instruction": "<|caption_audiocaps|>", "references": [audiocaps] + others})]
    lines += [("aqa", {"question": q, "answer": a, "audio_lang": "en", "qtype": k, "temporal": k in TEMPORAL_QUESTIONS})
              for q, a, k in _questions(rng, events, speech_span)]
    return audio, facts, lines


def _gen_note(cfg: WorldConfig, seed: int, split: str, i: int, n: int):
    rng = _rng(seed, "note", split, i)
    instrument, pitch = _combo(rng, split, lambda: (_pick(rng, sounds.INSTRUMENTS), int(rng.integers(36, 97))),
                               lambda c: f"{c[0]}|{c[1]}")
    velocity = int(rng.integers(25, 128))
    seconds = round(float(rng.uniform(1.0, 2.0)), 2)
    audio = sounds.note(pitch, velocity, instrument, seconds, rng)
    facts = {"notes": [{"pitch": pitch, "start": 0.0, "end": seconds}], "pitch": pitch, "velocity": velocity,
             "instrument": instrument}
    return audio, facts, [("note_analysis", {}), ("instrument", {"label": instrument})]


def _gen_phrase(cfg: WorldConfig, seed: int, split: str, i: int, n: int):
    rng = _rng(seed, "phrase", split, i)
    tempo = _pick(rng, tuple(TEMPOS))
    bpm = float(rng.uniform(*TEMPOS[tempo]))
    instrument = _pick(rng, sounds.INSTRUMENTS)
    root = int(rng.integers(48, 73))
    scale = (0, 2, 4, 5, 7, 9, 11, 12)
    pitches = [root + scale[int(j)] for j in rng.integers(0, len(scale), size=int(rng.integers(5, 9)))]
    audio, notes = sounds.phrase(pitches, bpm, instrument, int(rng.integers(60, 120)), rng)
    facts = {"notes": notes, "bpm": round(bpm, 1), "instrument": instrument}
    return audio, facts, [("tempo", {"label": tempo}), ("instrument", {"label": instrument})]


_GENERATE = {"speech": _gen_speech, "translation": _gen_translation, "noisy_speech": _gen_noisy_speech,
             "event": _gen_event, "scene": _gen_scene, "count": _gen_count, "note": _gen_note,
             "phrase": _gen_phrase}


# ---------------------------------------------------------------------------------------------
# building

def counts(cfg: WorldConfig) -> dict[str, int]:
    """Clips per generator in each split."""
    n = dict(zip(SPLITS, SIZES[cfg.size]))
    for split in SPLITS:
        override = getattr(cfg, f"n_{split}")
        if override is not None:
            n[split] = override
    return n


def generators_for(tasks: list[str] | tuple[str, ...] | None) -> list[str]:
    """The generators needed for `tasks` (None: all); ValueError for a task the world does not make."""
    if tasks is None:
        return list(GENERATORS)
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise ValueError(f"the world does not make task(s) {bad}; world tasks: {', '.join(TASKS)}")
    needed = {g for t in tasks for g in DIALOGUE_NEEDS.get(t, ())}
    return [g for g, ts in GENERATORS.items() if set(ts) & set(tasks) or g in needed]


def spec(cfg: WorldConfig, seed: int, tasks: list[str] | None = None) -> dict:
    """Everything that determines the build's bytes (hashed into its folder name)."""
    tasks = tasks if tasks is not None else cfg.tasks
    return {"version": WORLD_VERSION, "seed": seed, "size": cfg.size, "counts": counts(cfg), "crowd": cfg.crowd,
            "languages": list(cfg.languages), "generators": generators_for(tasks),
            "tasks": sorted(tasks) if tasks is not None else None}


def world_dir(cfg: WorldConfig, seed: int, tasks: list[str] | None = None) -> Path:
    """Where build_world() puts (or finds) the world for this config: <out>/<size>-<hash>."""
    key = hashlib.sha1(json.dumps(spec(cfg, seed, tasks), sort_keys=True).encode()).hexdigest()[:10]
    return Path(cfg.out) / f"{cfg.size}-{key}"


def _make(job: tuple) -> list[tuple[tuple, list[str], float]]:
    """Worker: render clips [start, stop) of one generator and split; write their wavs; return manifest lines."""
    cfg_dict, seed, generator, split, start, stop, n, root, keep = job
    cfg = WorldConfig(**cfg_dict)
    out = []
    for i in range(start, stop):
        audio, facts, lines = _GENERATE[generator](cfg, seed, split, i, n)
        audio = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
        rel = f"wav/{split}/{generator}-{i:06d}.wav"
        sf.write(Path(root) / rel, audio, SAMPLE_RATE, subtype="PCM_16")
        base = {"audio": rel, "duration": round(len(audio) / SAMPLE_RATE, 2), "dataset": "world",
                "generator": generator, "clip": f"{split}-{generator}-{i:06d}", **facts}
        rows = [json.dumps({**base, "task": task, **fields}, ensure_ascii=False)
                for task, fields in lines if keep is None or task in keep]
        out.append(((SPLITS.index(split), list(GENERATORS).index(generator), i), rows, len(audio) / SAMPLE_RATE))
    return out


def build_for(cfg: Config) -> Path:
    """The world a run's config trains on when it names no manifest: `world`, built with the run's world seed, for
    world.tasks or else the run's data.tasks (what AudioDataModule is handed as `world`)."""
    w = cfg.world
    return build_world(w, cfg.world_seed, tasks=w.tasks if w.tasks is not None else list(cfg.data.tasks))


def build_world(cfg: WorldConfig, seed: int = 0, tasks: list[str] | None = None, progress: bool = True) -> Path:
    """Build the world (or return the cached build) -> folder with train/val/test.jsonl and wav/.

    `tasks` (default cfg.tasks; None = all) limits the generators run and the lines written.
    A build happens in a temporary folder renamed at the end, so an interrupted build never looks complete.
    """
    tasks = tasks if tasks is not None else cfg.tasks
    final = world_dir(cfg, seed, tasks)
    if is_complete(final):
        return final
    sp = spec(cfg, seed, tasks)
    with building(final) as tmp:
        _render(cfg, seed, tasks, sp, tmp, progress)
    return final


def _render(cfg: WorldConfig, seed: int, tasks, sp: dict, tmp: Path, progress: bool) -> None:
    """Render every clip of `sp` into `tmp` (wav/ and one manifest per split)."""
    n = sp["counts"]
    for split in SPLITS:
        (tmp / "wav" / split).mkdir(parents=True)
    cfg_dict = asdict(cfg)
    keep = set(tasks) if tasks is not None else None
    kinds = [t for t in DIALOGUE_NEEDS if keep is not None and t in keep]
    if kinds:  # dialogues are composed from the clips' asr / asc lines (their facts): keep those until then
        keep = keep | {"asr", "asc"}
    chunk = 8
    jobs = [(cfg_dict, seed, g, split, a, min(a + chunk, n[split]), n[split], str(tmp), keep)
            for split in SPLITS for g in sp["generators"] for a in range(0, n[split], chunk)]
    total = sum(n[s] for s in SPLITS) * len(sp["generators"])
    # auto: a pool pays ~1 s to start its processes, worth it from a few hundred clips
    workers = cfg.workers or (1 if total < 200 else min(os.cpu_count() or 1, 8))
    results = []
    with tqdm(total=total, desc=f"world {cfg.size}", unit="clip", disable=not progress, mininterval=2.0) as bar:
        if workers == 1:
            for job in jobs:
                results += _make(job)
                bar.update(job[5] - job[4])
        else:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(_make, job): job for job in jobs}
                for fut in as_completed(futures):
                    results += fut.result()
                    job = futures[fut]
                    bar.update(job[5] - job[4])
    results.sort(key=lambda r: r[0])
    by_split = defaultdict(list)
    for (s, _, _), rows, _ in results:
        by_split[SPLITS[s]] += rows
    if kinds:
        for split in SPLITS:
            parsed = [json.loads(r) for r in by_split[split]]
            made = dialogues.compose(parsed, split, seed, kinds, n[split])
            by_split[split] = [r for r, p in zip(by_split[split], parsed) if p["task"] in tasks] + \
                [json.dumps(d, ensure_ascii=False) for d in made]
    for split in SPLITS:
        (tmp / f"{split}.jsonl").write_text("".join(r + "\n" for r in by_split[split]), encoding="utf-8")
    (tmp / "spec.json").write_text(json.dumps(sp, indent=1) + "\n")


def read_split(root: str | Path, split: str) -> list[dict]:
    """The manifest lines of one split (plain dicts, no validation)."""
    path = Path(root) / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such world split (build it with `qa-lab world build`)")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def summary(root: str | Path) -> list[dict]:
    """Per task: family, lines and hours in each split (from the manifests)."""
    rows: dict[str, dict] = {}
    for split in SPLITS:
        for ex in read_split(root, split):
            r = rows.setdefault(ex["task"], {"task": ex["task"], "family": registry.get(ex["task"]).family,
                                             **{s: 0 for s in SPLITS}, "hours": 0.0})
            r[split] += 1
            r["hours"] += ex["duration"] / 3600
    order = {t: k for k, t in enumerate(registry.REGISTRY)}
    return sorted(rows.values(), key=lambda r: order[r["task"]])


def format_summary(rows: list[dict]) -> str:
    """A plain-text table of summary() rows with a total line."""
    head = f"{'task':14s} {'family':7s} {'train':>7s} {'val':>6s} {'test':>6s} {'hours':>7s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['task']:14s} {r['family']:7s} {r['train']:7d} {r['val']:6d} {r['test']:6d} {r['hours']:7.3f}")
    tot = Counter()
    for r in rows:
        tot.update({k: r[k] for k in (*SPLITS, "hours")})
    lines.append(f"{'total':14s} {'':7s} {tot['train']:7d} {tot['val']:6d} {tot['test']:6d} {tot['hours']:7.3f}")
    return "\n".join(lines)


def corpus_text() -> list[str]:
    """Every word the world can say or write: what the tiny tokenizer is trained on."""
    texts = list(speech.corpus_text())
    texts += list(sounds.EVENTS) + list(sounds.SCENES) + list(sounds.INSTRUMENTS) + list(sounds.BACKGROUNDS)
    texts += [p for ps in sounds.EVENT_PHRASES.values() for p in ps]
    texts += [p for ps in _BACKGROUND_PHRASES.values() for p in ps]
    texts += list(LANGUAGE_NAMES.values()) + list(EMOTIONS) + list(RATES) + list(TEMPOS) + ["male", "female"]
    texts += list(speech.SPEAKERS) + [str(k) for k in range(10)] + ["yes", "no", "none"]
    texts += ["is there a in the recording", "how many times do you hear a", "which comes first the or the",
              "what sound comes right after the", "is anyone speaking when the starts", "a person speaks",
              "someone is talking", "a voice speaks", "while", "as", "in the background", "and then", "then"]
    return texts


def iter_examples(root: str | Path, split: str, tasks: list[str] | None = None) -> Iterator[dict]:
    """Lines of one split, optionally of some tasks only, with absolute audio paths."""
    root = Path(root)
    for ex in read_split(root, split):
        if tasks is None or ex["task"] in tasks:
            if "messages" in ex:  # a dialogue: its clips
                yield {**ex, "audios": [str(root / a) for a in ex["audios"]]}
            else:
                yield {**ex, "audio": str(root / ex["audio"])}
