"""Refresh the translation catalogues: extract the msgids, update each language's .po, compile the .mo.

    python tools/translations.py update    # extract from the code and templates, merge into every .po, compile
    python tools/translations.py compile   # .po -> .mo only (after editing translations)
    python tools/translations.py check     # what is missing: untranslated, fuzzy, a stale .mo (exit 1 if any)

The same with pybabel itself (what this script does, step by step):

    pybabel extract -F babel.cfg -k _n:1,2 -k _p:1c,2 -k _np:1c,2,3 --add-comments=TRANSLATORS: -o messages.pot .
    pybabel update -i messages.pot -d playground/translations
    pybabel compile -d playground/translations

The compiled .mo files are committed: `pip install .` and the container use them as they are.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.checkers import python_format
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = ROOT / "playground" / "translations"
MAPPING = ROOT / "babel.cfg"
DOMAIN = "messages"
# The core's markers (playground/messages.py): `_` as gettext's, `_n(singular, plural, count)` as ngettext's,
# `_p(context, msgid)` and `_np(context, singular, plural, count)` as pgettext's and npgettext's.
KEYWORDS = {**DEFAULT_KEYWORDS, "_n": (1, 2), "_p": ((1, "c"), 2), "_np": ((1, "c"), 2, 3)}
LANGUAGES = ("ru",)  # English is the msgids themselves
WIDTH = 120


def extracted() -> Catalog:
    """A fresh template catalogue: every msgid in the code and templates now."""
    with MAPPING.open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog(project="SQL Playground", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(language: str) -> Path:
    return CATALOGUES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(language: str) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, project="SQL Playground", charset="utf-8")
    with path.open("rb") as f:
        return read_po(f, locale=language)


def compiled(catalog: Catalog) -> bytes:
    """The .mo for a catalogue (fuzzy entries left out, as gettext does)."""
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def update() -> None:
    """Extract, merge into each language's .po (new msgids untranslated, changed ones fuzzy), compile."""
    template = extracted()
    for language in LANGUAGES:
        catalog = read_catalogue(language)
        before = ({m.id for m in catalog}, catalog.creation_date)
        catalog.update(template, update_header_comment=False)
        if {m.id for m in catalog} == before[0]:
            catalog.creation_date = before[1]  # nothing new to translate: the .po and .mo stay as they were
        catalog.obsolete.clear()  # msgids gone from the code leave the catalogue (git keeps the history)
        catalog.fuzzy = False
        catalog.header_comment = f"# {language} translation of SQL Playground; see the README's Languages section."
        catalog.version, catalog.msgid_bugs_address = "", ""
        catalog.last_translator = catalog.language_team = "SQL Playground"
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, catalog, width=WIDTH, omit_header=False, include_previous=True)
    compile_all()


def compile_all() -> None:
    for language in LANGUAGES:
        po_path(language).with_suffix(".mo").write_bytes(compiled(read_catalogue(language)))


def problems(language: str) -> list[str]:
    """Why the catalogue is not complete: msgids without a translation, fuzzy ones, bad placeholders, a stale .mo."""
    template = extracted()
    catalog = read_catalogue(language)
    found = []
    for message in template:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        translated = catalog.get(key, context=message.context)
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
        if translated is None:
            found.append(f"no {language} entry for {key!r} ({where})")
        elif translated.fuzzy:
            found.append(f"fuzzy {language} entry for {key!r} ({where})")
        elif isinstance(message.id, tuple) != isinstance(translated.id, tuple):
            found.append(f"{language} entry for {key!r} is not plural where the code is, or the other way round")
        elif not all(translated.string if isinstance(translated.string, tuple) else (translated.string,)):
            found.append(f"empty {language} translation of {key!r} ({where})")
        else:
            try:
                python_format(catalog, translated)
            except Exception as e:  # babel's TranslationError: a placeholder the msgid does not have
                found.append(f"{language} translation of {key!r}: {e}")
    mo = po_path(language).with_suffix(".mo")
    if not mo.exists() or mo.read_bytes() != compiled(catalog):
        found.append(f"{mo.relative_to(ROOT)} is not compiled from its .po: run `python tools/translations.py compile`")
    return found


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "check":
        found = [p for language in LANGUAGES for p in problems(language)]
        print("\n".join(found) or "Every msgid is translated.")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
