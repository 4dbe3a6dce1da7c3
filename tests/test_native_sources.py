"""The native sources keep their place: the bottom of the solver layer, over HiGHS's official C API only."""

from __future__ import annotations

import re
from pathlib import Path

NATIVE = Path(__file__).resolve().parent.parent / "native"
DECLARATIONS = NATIVE / "highs_api.pxd"


def sources() -> dict[Path, str]:
    return {path: path.read_text() for path in sorted(NATIVE.glob("*.p[yx]*")) if path.suffix in (".pyx", ".pxd")}


def test_the_native_module_imports_nothing_of_caudal() -> None:
    """The kernels report plain values; caudal.solver.native_workspace wraps them (no upward import)."""
    upward = {
        path.name: line.strip()
        for path, text in sources().items()
        for line in text.splitlines()
        if re.match(r"\s*(from|import)\s+caudal\b", line) or re.search(r"\bimport\s+caudal\b", line)
    }
    assert upward == {}


def test_no_hand_copied_highs_header() -> None:
    """HiGHS's prototypes come from its own header (interfaces/highs_c_api.h), declared once for Cython."""
    assert not list(NATIVE.glob("*.h"))
    externs = {path.name for path, text in sources().items() if 'cdef extern from "interfaces/highs_c_api.h"' in text}
    assert externs == {DECLARATIONS.name}


def test_highs_api_declares_only_what_the_kernels_use() -> None:
    text = DECLARATIONS.read_text()
    declared = set(re.findall(r"\b(Highs_\w+)\(", text))  # functions
    declared |= set(re.findall(r"^\s+const (?:HighsInt|int) (\w+)\s*(?:#.*)?$", text, flags=re.MULTILINE))  # constants
    declared |= set(re.findall(r"^\s+(HIGHS_\w+) = ", text, flags=re.MULTILINE))  # caudal's option values
    assert len(declared) > 30
    used = " ".join(text for path, text in sources().items() if path != DECLARATIONS)
    unused = {name for name in declared if not re.search(rf"\b{name}\b", used)}
    assert unused == set()
