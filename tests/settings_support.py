"""The PLAYGROUND_* settings the code reads, found in its source, so that docs and checks cannot miss one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_NAME = re.compile(r"""["'](PLAYGROUND_[A-Z0-9_]+)["']""")


def settings_read_by_the_code() -> set[str]:
    """Every quoted PLAYGROUND_* name in playground/ (the tests' own PLAYGROUND_TEST_* are not settings)."""
    names: set[str] = set()
    for path in (ROOT / "playground").rglob("*.py"):
        names |= set(_NAME.findall(path.read_text(encoding="utf-8")))
    return {name for name in names if not name.startswith("PLAYGROUND_TEST_")}
