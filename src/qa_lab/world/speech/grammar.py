"""The world's sentences: an English grammar and a parallel grammar realised in de, fr, es and zh, split 80/10/10
by hash so that a test sentence is never a training one."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from qa_lab.config import WORLD_LANGUAGES
from qa_lab.world.speech.lexicon import (
    ADJECTIVES, INTRANSITIVE, LEXICON, LINKS, MANNERS, NOUNS, PREPOSITIONS, SAY, TEMPLATES, TIMES, TRANSITIVE,
)

CORPUS_VERSION = 2  # bump when synthesis, grammar or manifest layout changes: it is part of the cache key

LANGUAGES: tuple[str, ...] = WORLD_LANGUAGES  # the languages the world speaks (world.languages)


def display_text(text: str, lang: str) -> str:
    """The transcript as written: spoken words joined by spaces, except Chinese, which has none."""
    _check_lang(lang)
    return text.replace(" ", "") if lang == "zh" else text


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {lang!r}")


# ---------------------------------------------------------------------------------------------
# Sampling: words are drawn with Zipf-like weights by their rank in their class (1 / (rank + 3)), so the
# first words of each list are frequent, as in real text, and make good keywords.

def _zipf(n: int) -> np.ndarray:
    w = 1.0 / (np.arange(n) + 3.0)
    return np.cumsum(w / w.sum())


def _draw(rng: np.random.Generator, items, cum: np.ndarray):
    return items[min(int(np.searchsorted(cum, rng.random(), side="right")), len(items) - 1)]


def split_of(key: str) -> str:
    """Stable split of a sentence or combination by hash (80/10/10), whatever the seed: the world's one split rule
    (sentences here, event and note combinations in qa_lab.world.builder)."""
    h = int.from_bytes(hashlib.sha1(key.encode()).digest()[:4], "big") % 10
    return "train" if h < 8 else ("val" if h == 8 else "test")


def _check_split(split: str) -> None:
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")


# ---------------------------------------------------------------------------------------------
# The English grammar (its words and templates: qa_lab.world.speech.lexicon).

_LEXICON_CUM = {k: _zipf(len(v)) for k, v in LEXICON.items()}


def _fill(template: str, rng: np.random.Generator) -> str:
    words = [str(_draw(rng, LEXICON[t], _LEXICON_CUM[t])) if t in LEXICON else t for t in template.split()]
    # "a" before a vowel reads wrongly; "an" keeps the grammar honest
    words = ["an" if w == "a" and nxt[0] in "aeiou" else w for w, nxt in zip(words, words[1:] + ["x"])]
    return " ".join(words)


# ---------------------------------------------------------------------------------------------
# The parallel grammar: abstract sentences (English lemmas in a small tree) realised in every
# language (its tables, and the lexicon rules they follow: qa_lab.world.speech.lexicon).

_COL = {"en": 0, "de": 1, "fr": 2, "es": 3, "zh": 4}
_KIND_OF = {en: row[5] for en, row in NOUNS.items()}
_DETERMINERS = ("the", "a", "this", "my", "your")
_DEFINITE = ("the", "this", "my", "your")  # never "a": French would elide "de un", "que un"
_DET_CUM = np.cumsum([0.45, 0.25, 0.1, 0.1, 0.1])
_DEF_CUM = np.cumsum([0.6, 0.14, 0.13, 0.13])


@lru_cache(maxsize=None)
def _nouns_of(kinds: str) -> tuple[tuple[str, ...], np.ndarray]:
    """The nouns of `kinds`, weighted by rank within their own kind (so each kind has its frequent words)."""
    rank = {n: i for kind in kinds for i, n in enumerate(n for n in NOUNS if _KIND_OF[n] == kind)}
    pool = tuple(n for n in NOUNS if n in rank)
    w = np.array([1.0 / (rank[n] + 3.0) for n in pool])
    return pool, np.cumsum(w / w.sum())


@lru_cache(maxsize=None)
def _adjectives_for(kind: str) -> tuple[tuple[str, ...], np.ndarray]:
    pool = tuple(a for a, row in ADJECTIVES.items() if kind in row[5])
    return pool, _zipf(len(pool))


def _pool(table: dict[str, list[str]]) -> tuple[tuple[str, ...], np.ndarray]:
    return tuple(table), _zipf(len(table))


_POOLS = {name: _pool(t) for name, t in (("vi", INTRANSITIVE), ("vt", TRANSITIVE), ("say", SAY),
                                          ("prep", PREPOSITIONS), ("time", TIMES), ("manner", MANNERS))}


# --- drawing abstract sentences. A noun phrase is (det, adj or "", noun); a clause is
# (subject, verb, object or None, time or "", manner or "", (prep, np) or None).

def _draw_np(rng: np.random.Generator, kinds: str, definite: bool = False, det: str = "") -> tuple:
    noun = _draw(rng, *_nouns_of(kinds))
    det = det or (_draw(rng, _DEFINITE, _DEF_CUM) if definite else _draw(rng, _DETERMINERS, _DET_CUM))
    adj = _draw(rng, *_adjectives_for(_KIND_OF[noun])) if rng.random() < 0.45 else ""
    return (det, adj, noun)


def _draw_pp(rng: np.random.Generator, exclude: tuple[str, ...] = ()) -> tuple:
    prep = _draw(rng, *_POOLS["prep"])
    while prep in exclude:
        prep = _draw(rng, *_POOLS["prep"])
    return (prep, _draw_np(rng, PREPOSITIONS[prep][5], definite=prep == "next to"))


def _draw_clause(rng: np.random.Generator, definite_subject: bool = False) -> tuple:
    if rng.random() < 0.55:
        verb = _draw(rng, *_POOLS["vt"])
        subj = _draw_np(rng, TRANSITIVE[verb][6], definite=definite_subject)
        obj = _draw_np(rng, TRANSITIVE[verb][5])
        manner = ""
    else:
        verb, obj = _draw(rng, *_POOLS["vi"]), None
        subj = _draw_np(rng, INTRANSITIVE[verb][5], definite=definite_subject)
        manner = _draw(rng, *_POOLS["manner"]) if rng.random() < 0.25 else ""
    time = _draw(rng, *_POOLS["time"]) if rng.random() < 0.25 else ""
    pp = _draw_pp(rng) if rng.random() < 0.5 else None
    return (subj, verb, obj, time, manner, pp)


def _draw_sentence(rng: np.random.Generator) -> tuple:
    u = rng.random()
    if u < 0.45:
        return ("clause", _draw_clause(rng))
    if u < 0.57:
        return ("because", _draw_clause(rng), _draw_clause(rng, definite_subject=True))
    if u < 0.67:
        return ("while", _draw_clause(rng), _draw_clause(rng, definite_subject=True))
    if u < 0.77:
        return ("that", _draw_np(rng, "h"), _draw(rng, *_POOLS["say"]), _draw_clause(rng, definite_subject=True))
    if u < 0.9:
        np_ = _draw_np(rng, "ahtcpo", definite=True)
        np_ = (np_[0], "", np_[2])
        return ("is", np_, _draw(rng, *_adjectives_for(_KIND_OF[np_[2]])))
    return ("there", _draw_np(rng, "ahtc", det="a"), _draw_pp(rng, exclude=("with",)))


# --- realisation, one set of functions per language. Each returns a list of words.

def _en_np(np_: tuple) -> list[str]:
    det, adj, noun = np_
    words = [det] + ([adj] if adj else []) + [noun]
    if det == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    return words


def _en_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    out = _en_np(subj) + [verb] + (_en_np(obj) if obj else []) + manner.split()
    if pp:
        out += pp[0].split() + _en_np(pp[1])
    return out + time.split()


_DE_DER = {"m": ("der", "den", "dem"), "f": ("die", "die", "der"), "n": ("das", "das", "dem")}  # nom, acc, dat
_DE_DIES = {"m": ("er", "en", "em"), "f": ("e", "e", "er"), "n": ("es", "es", "em")}
_DE_EIN = {"m": ("", "en", "em"), "f": ("e", "e", "er"), "n": ("", "", "em")}
_DE_WEAK = {"m": ("e", "en", "en"), "f": ("e", "e", "en"), "n": ("e", "e", "en")}  # after der, dies-
_DE_MIXED = {"m": ("er", "en", "en"), "f": ("e", "e", "en"), "n": ("es", "es", "en")}  # after ein, mein, dein
_DE_EIN_WORDS = {"a": "ein", "my": "mein", "your": "dein"}


def _de_ending(stem: str, ending: str) -> str:
    return stem + (ending[1:] if stem.endswith("e") and ending else ending)  # müde + e -> müde


def _de_np(np_: tuple, case: int) -> list[str]:
    det, adj, noun = np_
    word, g = NOUNS[noun][1].split()
    if det == "the":
        d, endings = _DE_DER[g][case], _DE_WEAK
    elif det == "this":
        d, endings = "dies" + _DE_DIES[g][case], _DE_WEAK
    else:
        d, endings = _DE_EIN_WORDS[det] + _DE_EIN[g][case], _DE_MIXED
    return [d] + ([_de_ending(ADJECTIVES[adj][1], endings[g][case])] if adj else []) + [word]


def _de_pp(pp: tuple) -> list[str]:
    prep, np_ = pp
    words = [PREPOSITIONS[prep][1]] + _de_np(np_, 2)  # place: dative
    if words[:2] == ["in", "dem"]:
        words[:2] = ["im"]
    return words


def _de_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    verb_de = (TRANSITIVE if obj else INTRANSITIVE)[verb][1]
    middle = (TIMES[time][1].split() if time else []) + (_de_np(obj, 1) if obj else []) + \
        (MANNERS[manner][1].split() if manner else []) + (_de_pp(pp) if pp else [])
    return _de_np(subj, 0) + (middle + [verb_de] if sub else [verb_de] + middle)


_FR_DET = {"the": ("le", "la"), "a": ("un", "une"), "this": ("ce", "cette"), "my": ("mon", "ma"),
           "your": ("ton", "ta")}


def _fr_adj(adj: str, g: str) -> tuple[str, bool]:
    forms = ADJECTIVES[adj][2]
    before = forms.startswith("+")
    m, f = forms.lstrip("+").split("/")
    return (f if g == "f" else m), before


def _fr_np(np_: tuple) -> list[str]:
    det, adj, noun = np_
    word, g = NOUNS[noun][2].split()
    d = _FR_DET[det][g == "f"]
    if not adj:
        return [d, word]
    a, before = _fr_adj(adj, g)
    return [d, a, word] if before else [d, word, a]


def _fr_pp(pp: tuple) -> list[str]:
    words = PREPOSITIONS[pp[0]][2].split() + _fr_np(pp[1])
    for i in range(len(words) - 1):
        if words[i] == "de" and words[i + 1] == "le":
            words[i:i + 2] = ["du"]
            break
    return words


def _fr_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    out = _fr_np(subj) + (TRANSITIVE if obj else INTRANSITIVE)[verb][2].split()
    out += (_fr_np(obj) if obj else []) + (MANNERS[manner][2].split() if manner else [])
    return out + (_fr_pp(pp) if pp else []) + (TIMES[time][2].split() if time else [])


_ES_DET = {"the": ("el", "la"), "a": ("un", "una"), "this": ("este", "esta"), "my": ("mi", "mi"),
           "your": ("tu", "tu")}


def _es_np(np_: tuple) -> list[str]:
    det, adj, noun = np_
    word, g = NOUNS[noun][3].split()
    out = [_ES_DET[det][g == "f"], word]
    if adj:
        m, f = ADJECTIVES[adj][3].split()[0].split("/")
        out.append(f if g == "f" else m)
    return out


def _es_after(prep: list[str], np_words: list[str]) -> list[str]:
    if prep and prep[-1] in ("de", "a") and np_words[0] == "el":
        return prep[:-1] + [{"de": "del", "a": "al"}[prep[-1]]] + np_words[1:]
    return prep + np_words


def _es_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    out = _es_np(subj) + (TRANSITIVE if obj else INTRANSITIVE)[verb][3].split()
    if obj:  # the personal "a" before animals and people
        out += _es_after(["a"] if _KIND_OF[obj[2]] in "ah" else [], _es_np(obj))
    out += MANNERS[manner][3].split() if manner else []
    out += _es_after(PREPOSITIONS[pp[0]][3].split(), _es_np(pp[1])) if pp else []
    return out + (TIMES[time][3].split() if time else [])


def _zh_np(np_: tuple) -> list[str]:
    det, adj, noun = np_
    classifier, word = NOUNS[noun][4].split()
    out = {"the": [], "a": ["一" + classifier], "this": ["这" + classifier], "my": ["我的"], "your": ["你的"]}[det]
    if adj:
        attr = "旧" if adj == "old" and _KIND_OF[noun] in "tc" else ADJECTIVES[adj][4].split("/")[0]
        out += attr.split()
    return out + [word]


def _zh_frame(frame: str, inner: list[str]) -> list[str]:
    before, after = frame.split("…")
    return before.split() + inner + after.split()


def _zh_clause(c: tuple, sub: bool = False) -> list[str]:
    subj, verb, obj, time, manner, pp = c
    out = _zh_np(subj) + (TIMES[time][4].split() if time else [])
    out += _zh_frame(PREPOSITIONS[pp[0]][4], _zh_np(pp[1])) if pp else []
    out += MANNERS[manner][4].split() if manner else []
    return out + (TRANSITIVE if obj else INTRANSITIVE)[verb][4].split() + (_zh_np(obj) if obj else [])


_CLAUSE = {"en": _en_clause, "de": _de_clause, "fr": _fr_clause, "es": _es_clause, "zh": _zh_clause}


def _realize(s: tuple, lang: str) -> str:
    """The abstract sentence `s` spoken in `lang`: lowercase words joined by single spaces."""
    kind, col, clause = s[0], _COL[lang], _CLAUSE[lang]
    if kind == "clause":
        words = clause(s[1])
    elif kind in ("because", "while"):
        link = LINKS[kind][lang]
        words = _zh_frame(link, clause(s[2])) + clause(s[1]) if lang == "zh" else \
            clause(s[1]) + link.split() + clause(s[2], sub=True)
    elif kind == "that":
        subj = _de_np(s[1], 0) if lang == "de" else {"en": _en_np, "fr": _fr_np, "es": _es_np, "zh": _zh_np}[lang](s[1])
        words = subj + [SAY[s[2]][col]] + LINKS["that"][lang].split() + clause(s[3], sub=True)
    elif kind == "is":
        np_, adj = s[1], s[2]
        forms = ADJECTIVES[adj][col]
        if lang == "en":
            words = _en_np(np_) + ["is", adj]
        elif lang == "de":
            words = _de_np(np_, 0) + ["ist", forms]
        elif lang == "fr":
            words = _fr_np(np_) + ["est", _fr_adj(adj, NOUNS[np_[2]][2].split()[1])[0]]
        elif lang == "es":
            (m, f), copula = forms.split()[0].split("/"), forms.split()[1]
            g = NOUNS[np_[2]][3].split()[1]
            words = _es_np(np_) + [{"ser": "es", "estar": "está"}[copula], f if g == "f" else m]
        else:
            pred = "很 旧" if adj == "old" and _KIND_OF[np_[2]] in "tc" else forms.split("/")[1]
            words = _zh_np(np_) + pred.split()
    else:  # "there": there is <np> <pp>
        np_, pp = s[1], s[2]
        if lang == "en":
            words = ["there", "is"] + _en_np(np_) + pp[0].split() + _en_np(pp[1])
        elif lang == "de":
            words = _de_pp(pp) + ["ist"] + _de_np(np_, 0)
        elif lang == "fr":
            words = ["il", "y", "a"] + _fr_np(np_) + _fr_pp(pp)
        elif lang == "es":
            words = ["hay"] + _es_np(np_) + _es_after(PREPOSITIONS[pp[0]][3].split(), _es_np(pp[1]))
        else:  # 房子 旁边 有 一只 狗: the place phrase without 在
            words = _zh_frame(PREPOSITIONS[pp[0]][4], _zh_np(pp[1]))[1:] + ["有"] + _zh_np(np_)
    return " ".join(words)


def _abstract_sentences(n: int, seed: int, split: str, stream: int) -> list[tuple]:
    """`n` distinct abstract sentences of `split` (by hash of the abstract sentence), deterministic in `seed`."""
    _check_split(split)
    rng = np.random.default_rng([seed, CORPUS_VERSION, stream])
    out: list[tuple] = []
    seen: set[str] = set()
    for _ in range(200 * n + 1000):
        if len(out) == n:
            break
        s = _draw_sentence(rng)
        key = repr(s)
        if key in seen or not 5 <= len(_realize(s, "en").split()) <= 22:
            continue
        seen.add(key)
        if split_of(key) == split:
            out.append(s)
    if len(out) < n:
        raise ValueError(f"could only draw {len(out)} distinct {split} sentences, asked for {n}")
    return out


def sentences(n: int, seed: int, split: str, lang: str = "en") -> list[str]:
    """`n` distinct lowercase sentences in `lang` of `split`, deterministic in `seed`; no punctuation or digits.

    English comes from its own grammar (6-14 words, split by text hash); the other languages from the
    parallel grammar (split by the abstract sentence, as in `parallel_sentences`). A test sentence is
    never a train or val sentence, whatever the seeds.
    """
    _check_lang(lang)
    _check_split(split)
    if lang != "en":
        return [_realize(s, lang) for s in _abstract_sentences(n, seed, split, stream=1 + _COL[lang])]
    rng = np.random.default_rng([seed, CORPUS_VERSION])
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(200 * n + 1000):  # far more draws than needed: the grammar has millions of sentences
        if len(out) == n:
            break
        s = _fill(TEMPLATES[rng.integers(len(TEMPLATES))], rng)
        if s not in seen and split_of(s) == split:
            seen.add(s)
            out.append(s)
    if len(out) < n:
        raise ValueError(f"could only draw {len(out)} distinct {split} sentences, asked for {n}")
    return out


def parallel_sentences(n: int, seed: int, split: str, src: str, tgt: str) -> list[tuple[str, str]]:
    """`n` (src, tgt) translation pairs of `split`, deterministic in `seed`.

    One abstract sentence stream serves every language pair, so for one seed the pairs of (en, de) and
    (en, fr) share their English side. The split is a property of the abstract sentence, so neither side of
    a test pair occurs in train or val.
    """
    _check_lang(src)
    _check_lang(tgt)
    return [(_realize(s, src), _realize(s, tgt)) for s in _abstract_sentences(n, seed, split, stream=0)]


@lru_cache(maxsize=None)
def _parallel_vocab(lang: str) -> frozenset[str]:
    """Every word the parallel grammar can say in `lang`: all forms of every lexicon entry and function word."""
    col = _COL[lang]
    words: set[str] = set()
    for noun in NOUNS:  # every determiner, adjective and case with each noun
        for det in _DETERMINERS:
            for adj in ("",) + _adjectives_for(_KIND_OF[noun])[0]:
                np_ = (det, adj, noun)
                if lang == "en":
                    words.update(_en_np(np_))
                elif lang == "de":
                    for case in range(3):
                        words.update(_de_np(np_, case))
                elif lang == "fr":
                    words.update(_fr_np(np_))
                elif lang == "es":
                    words.update(_es_np(np_))
                else:
                    words.update(_zh_np(np_))
    for table in (INTRANSITIVE, TRANSITIVE, SAY, PREPOSITIONS, TIMES, MANNERS):
        for row in table.values():
            words.update(row[col].replace("…", " ").split())
    for adj, row in ADJECTIVES.items():  # predicative forms
        forms = row[col]
        if lang in ("en", "de"):
            words.add(forms)
        elif lang == "fr":
            words.update(forms.lstrip("+").split("/"))
        elif lang == "es":
            words.update(forms.split()[0].split("/") + [{"ser": "es", "estar": "está"}[forms.split()[1]]])
        else:
            words.update(forms.split("/")[1].split() + ["旧"])
    for link in LINKS.values():
        words.update(link[lang].replace("…", " ").split())
    words.update({"en": ["is", "there"], "de": ["ist", "im"], "fr": ["est", "il", "y", "a", "du"],
                  "es": ["hay", "a", "al", "del"], "zh": ["有"]}[lang])
    return frozenset(words)


def corpus_text(langs: tuple[str, ...] = LANGUAGES) -> list[str]:
    """Every word the grammars can produce in `langs` (sorted): the text a tokenizer must cover."""
    words: set[str] = set()
    for lang in langs:
        _check_lang(lang)
        words |= _parallel_vocab(lang)
        if lang == "en":
            words |= {w for ws in LEXICON.values() for w in ws} | {"an"}
            words |= {t for tpl in TEMPLATES for t in tpl.split() if t not in LEXICON}
    return sorted(words)


# Keywords for keyword spotting: frequent content words, each in 6-20 % of a language's sentences. The same
# concepts in de/fr/es/zh, whose nouns and verbs keep one form in these grammars (a keyword is a token as spoken);
# en has its own grammar and its own frequent words.
_KEYWORD_NOUNS = ("teacher", "doctor", "girl", "dog", "aunt", "cat", "farmer")
_KEYWORD_VERBS = ("sees", "finds", "sleeps")


def _keywords(lang: str) -> tuple[str, ...]:
    col = _COL[lang]
    nouns = tuple(NOUNS[n][col].split()[1 if lang == "zh" else 0] for n in _KEYWORD_NOUNS)
    return nouns + tuple({**TRANSITIVE, **INTRANSITIVE}[v][col] for v in _KEYWORD_VERBS)


KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("dog", "cat", "horse", "bird", "rabbit", "teacher", "doctor", "small", "slept", "saw"),
    **{lang: _keywords(lang) for lang in LANGUAGES[1:]},
}
