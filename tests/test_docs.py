"""The docs hold: links resolve, every `qa-lab` command they show parses, every test they name exists, and the
README stays a five-minute read."""

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
USER_DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]  # what a user reads: README.md and docs/*.md
LINKED_DOCS = [*USER_DOCS, ROOT / "ARCHITECTURE.md"]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _code_blocks(text: str) -> list[str]:
    return FENCE.findall(text)


def _inline_code(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+(?:\n[^`\n]+)?)`", FENCE.sub("", text))


def _commands(block: str) -> list[str]:
    """Command lines of a code block, a trailing backslash joining a line to the next."""
    return re.sub(r"\\\n\s*", " ", block).splitlines()


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#+ (.+)$", FENCE.sub("", path.read_text()), re.M):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        yield slug if n == 0 else f"{slug}-{n}"


def test_every_test_the_docs_name_exists():
    missing, named = [], 0
    for doc in USER_DOCS:
        current = None
        for m in re.finditer(r"`(?:(?:tests/)?(test_\w+\.py))?::(test_\w+)", doc.read_text()):
            current = m.group(1) or current  # `::name` continues the file named before it
            named += 1
            source = (ROOT / "tests" / current).read_text() if current and (ROOT / "tests" / current).is_file() else ""
            if not re.search(rf"^def {m.group(2)}\b", source, re.M):
                missing.append(f"{_rel(doc)}: {current}::{m.group(2)}")
    assert named > 20 and not missing, missing


def test_every_relative_link_resolves():
    broken, checked = [], 0
    for doc in LINKED_DOCS:
        for target in re.findall(r"\[[^\]\n]*\]\(([^)\s]+)\)", FENCE.sub("", doc.read_text())):
            if re.match(r"[a-z]+:", target):  # http(s), mailto
                continue
            checked += 1
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                broken.append(f"{_rel(doc)}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in set(_anchors(file)):
                broken.append(f"{_rel(doc)}: {target} (no heading #{anchor} in {_rel(file)})")
    assert checked > 20 and not broken, broken


def _qa_lab_argv(line: str) -> list[str] | None:
    """`qa-lab ...` (or `.venv/bin/qa-lab ...`, after any VAR=value) as argv without the program; None otherwise."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return None
    while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):
        tokens.pop(0)
    if tokens and (tokens[0] == "qa-lab" or tokens[0].endswith("/qa-lab")):
        return tokens[1:]
    return None


def test_every_qa_lab_command_in_a_code_block_parses():
    """The command line's own parser, in-process: subcommands, flags, their values and the positionals they need.
    Placeholders (CKPT, <time>) and key=value overrides are positional arguments and parse as any."""
    from qa_lab import cli
    failed, parsed = [], 0
    for doc in USER_DOCS:
        for block in _code_blocks(doc.read_text()):
            for line in _commands(block):
                argv = _qa_lab_argv(line.strip())
                if argv is None:
                    continue
                parsed += 1
                err = io.StringIO()
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    try:
                        cli.parse_args(argv)
                    except SystemExit:
                        failed.append(f"{_rel(doc)}: qa-lab {' '.join(argv)}: {err.getvalue().strip().splitlines()[-1]}")
    assert parsed > 30 and not failed, failed


def _subparser(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    """The parser that `qa-lab WORDS...` reaches, following subcommands as far as they go."""
    for word in words:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            break
        parser = subs[0].choices[word]
    return parser


def test_every_flag_of_a_qa_lab_command_in_the_text_exists():
    """Commands quoted in running text (`qa-lab eval CKPT --world test --devices N`) may elide arguments, so only their
    flags are checked: each must be an option of the subcommand it follows."""
    from qa_lab import cli
    unknown, checked = [], 0
    for doc in USER_DOCS:
        for span in _inline_code(doc.read_text()):
            words = [w.strip("[]") for w in span.split()]
            if not words or not (words[0] == "qa-lab" or words[0].endswith("/qa-lab")):
                continue
            sub = _subparser(cli.parser(), words[1:])
            for flag in (w.split("=")[0] for w in words[1:] if re.match(r"--?[a-zA-Z]", w)):
                checked += 1
                if flag not in sub._option_string_actions:
                    unknown.append(f"{_rel(doc)}: `{span}`: {sub.prog} has no {flag}")
    assert checked > 10 and not unknown, unknown


def test_every_make_target_the_docs_show_exists():
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    missing, named = [], 0
    for doc in USER_DOCS:
        text = doc.read_text()
        for code in [*_code_blocks(text), *_inline_code(text)]:
            for target in re.findall(r"(?:^|[\s;&(])make ([a-z][\w-]*)", code, re.M):
                named += 1
                if target not in targets:
                    missing.append(f"{_rel(doc)}: make {target}")
    assert named > 5 and not missing, missing


def test_the_readme_opens_with_make_demo_and_make_test_and_stays_short():
    text = README.read_text()
    first = _code_blocks(text)[0].splitlines()
    assert [line.split()[:2] for line in first[:2]] == [["make", "demo"], ["make", "test"]]
    assert len(text.splitlines()) <= 300


def test_user_docs_carry_no_bookkeeping_words():
    """Issue numbers, sessions and the team belong to the project's history, not to what a user reads."""
    found = [f"{_rel(doc)}:{i}: {m.group(0)}" for doc in USER_DOCS
             for i, line in enumerate(doc.read_text().splitlines(), 1)
             for m in re.finditer(r"\bissues? #?\d+|\bsessions?\b|\bthe team\b", line, re.I)]
    assert not found, found
