"""Which Cobre format a case directory is in (0.5.x or 0.18), and its reader.

Cobre 0.18 rejects 0.5.x cases outright and the other way round, so a case is
in one format or the other; caudal tells them apart by fields each format
alone has, in ``stages.json`` (``num_scenarios`` / ``num_openings``) and
``config.json`` (``training.forward_passes`` / ``training.selection``). A case
that has both kinds is an error naming the two fields; a case with neither (or
unreadable files) goes to the 0.5.x reader, whose messages then say what is
missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from caudal.hydro.cobre import format_018, reader
from caudal.hydro.cobre.case import Case, TrainingSettings
from caudal.hydro.cobre.config import read_training_settings as read_training_settings_05
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.format_018.config import read_training_settings as read_training_settings_018
from caudal.hydro.cobre.suspicious import warn_suspicious

FORMAT_05 = "0.5"
FORMAT_018 = "0.18"

# (file, where, field) -> format whose cases have that field
_MARKERS = (
    ("stages.json", "stages[]", "num_scenarios", FORMAT_05),
    ("stages.json", "stages[]", "num_openings", FORMAT_018),
    ("config.json", "training", "forward_passes", FORMAT_05),
    ("config.json", "training", "selection", FORMAT_018),
)


def case_format(root: str | Path) -> str:
    """``"0.5"`` or ``"0.18"``; raises ``CaseError`` for a case that mixes the two."""
    found: dict[str, tuple[str, str]] = {}
    for file, where, field, version in _MARKERS:
        if any(field in item for item in _objects(Path(root) / file, where)):
            found.setdefault(version, (file, f"{where.rstrip('[]')}.{field}"))
    if len(found) == 2:
        (file_05, field_05), (file_018, field_018) = found[FORMAT_05], found[FORMAT_018]
        raise CaseError(
            file_018, None, field_018,
            f"is a Cobre 0.18 field, but {file_05} has the 0.5.x field {field_05!r}: the case mixes the two formats",
        )
    return FORMAT_018 if FORMAT_018 in found else FORMAT_05


def _objects(path: Path, where: str) -> list[dict[str, Any]]:
    """The JSON objects at ``where`` ("training" or "stages[]") of ``path``; none if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict):
        return []
    node = data.get(where.rstrip("[]"))
    items = node if where.endswith("[]") and isinstance(node, list) else [node]
    return [item for item in items if isinstance(item, dict)]


def read_case(root: str | Path) -> Case:
    """Read and validate a case in either format; warn of values a planner would hardly mean."""
    case = format_018.read_case(root) if case_format(root) == FORMAT_018 else reader.read_case(root)
    warn_suspicious(case)
    return case


def read_training_settings(files: CaseFiles) -> TrainingSettings:
    if case_format(files.root) == FORMAT_018:
        return read_training_settings_018(files)
    return read_training_settings_05(files)
