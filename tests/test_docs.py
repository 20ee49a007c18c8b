"""The README's references hold: every test it names as planting a fault exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_the_readme_names_exists():
    text = (ROOT / "README.md").read_text()
    missing, named = [], 0
    current = None
    for m in re.finditer(r"`(?:(test_\w+\.py))?::(test_\w+)", text):
        current = m.group(1) or current  # `::name` continues the file named before it
        named += 1
        source = (ROOT / "tests" / current).read_text() if (ROOT / "tests" / current).is_file() else ""
        if not re.search(rf"^def {m.group(2)}\b", source, re.M):
            missing.append(f"{current}::{m.group(2)}")
    assert named > 20 and not missing, missing
