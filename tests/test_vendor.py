"""The committed CodeMirror bundle is what frontend/build.mjs makes from the versions package-lock.json pins.

CI has no Node (the bundle is committed so that `pip install .` needs none), so these tests read
what the build script wrote beside the bundle: each bundled package's version and the bundle's
SHA-256. A bundle edited by hand, or rebuilt from other versions without updating the lock file,
fails here.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "static" / "vendor"
MANIFEST = json.loads((VENDOR / "codemirror.json").read_text())
LOCK = json.loads((ROOT / "frontend" / "package-lock.json").read_text())


def test_the_bundle_is_the_one_the_build_script_wrote() -> None:
    bundle = (VENDOR / "codemirror.js").read_bytes()
    assert len(bundle) == MANIFEST["bytes"]
    assert hashlib.sha256(bundle).hexdigest() == MANIFEST["sha256"]


def test_every_bundled_package_has_the_version_the_lock_file_pins() -> None:
    locked = {path.removeprefix("node_modules/"): entry for path, entry in LOCK["packages"].items() if path}
    assert MANIFEST["packages"], "the manifest names no package"
    for name, version in MANIFEST["packages"].items():
        assert name in locked, f"{name} is in the bundle but not in package-lock.json"
        assert locked[name]["version"] == version, f"{name}: bundle {version}, lock {locked[name]['version']}"
    assert locked["esbuild"]["version"] == MANIFEST["esbuild"]


def test_package_json_pins_exact_versions_that_the_lock_file_holds() -> None:
    package = json.loads((ROOT / "frontend" / "package.json").read_text())
    for name, wanted in package["devDependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", wanted), f"{name} is not pinned exactly: {wanted}"
        assert LOCK["packages"][f"node_modules/{name}"]["version"] == wanted


def test_the_licence_of_every_bundled_package_ships_beside_the_bundle() -> None:
    licences = (VENDOR / "codemirror.LICENSE.txt").read_text()
    for name, version in MANIFEST["packages"].items():
        assert f"== {name} {version} (MIT)" in licences
    assert licences.count("Permission is hereby granted") >= len(MANIFEST["packages"])


def test_the_bundle_loads_nothing_from_the_network() -> None:
    bundle = (VENDOR / "codemirror.js").read_text()
    # The one URL inside is the SVG namespace name, which is never fetched.
    assert re.findall(r"https?://[^\s\"'`)]+", bundle) == ["http://www.w3.org/2000/svg"]
    assert "import(" not in bundle
