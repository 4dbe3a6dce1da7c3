"""Files of the Cobre format that caudal does not read: their presence is an error.

A case that relies on one of these would give a different problem in caudal
than in Cobre, so loading it must fail, naming the file and the feature. JSON
registries that are present but list nothing are harmless and accepted.
"""

from __future__ import annotations

import json

from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.penalty_overrides import FILE_NAMES as PENALTY_FILES

UNSUPPORTED_FILES: dict[str, str] = {
    "system/pumping_stations.json": "pumping stations",
    "system/energy_contracts.json": "energy contracts",
    "scenarios/external_load_scenarios.parquet": "external load scenarios",
    "scenarios/external_ncs_scenarios.parquet": "external non-controllable source scenarios",
    "scenarios/non_controllable_factors.json": "non-controllable source block factors",
}

REGISTRY_KEYS = {
    "system/pumping_stations.json": "pumping_stations",
    "system/energy_contracts.json": "energy_contracts",
}

CONSTRAINTS_DIR = "constraints"
# Water withdrawals (withdrawals.py refuses hydro_bounds' other columns) and generic constraints (generic.py).
READ_CONSTRAINTS = ("hydro_bounds.parquet", "generic_constraints.json", "generic_constraint_bounds.parquet")


def refuse_unsupported_files(files: CaseFiles) -> None:
    for name, feature in UNSUPPORTED_FILES.items():
        if files.exists(name) and not _empty_registry(files, name):
            raise unsupported(name, None, None, feature)
    constraints = files.root / CONSTRAINTS_DIR
    if constraints.is_dir():
        for path in sorted(constraints.iterdir()):
            if path.name in READ_CONSTRAINTS or path.name in PENALTY_FILES:
                continue
            raise unsupported(
                f"{CONSTRAINTS_DIR}/{path.name}", None, None, "stage-varying bounds, penalties and generic constraints"
            )


def _empty_registry(files: CaseFiles, name: str) -> bool:
    key = REGISTRY_KEYS.get(name)
    if key is None:
        return False
    try:
        data = json.loads((files.root / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get(key) in ([], None)
