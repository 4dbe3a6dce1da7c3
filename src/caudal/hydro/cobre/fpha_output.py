"""``hydro_models/fpha_hyperplanes.parquet``: the FPHA planes a run used, in the input file's schema.

Cobre writes the planes it fitted for plants with computed FPHA models to
this file, with the columns of ``system/fpha_hyperplanes.parquet``, sorted by
hydro, stage and plane, so that it can be copied back as precomputed input.
caudal writes the planes of every FPHA stage (computed or precomputed: the
ones the LPs hold). The planes keep their intercept already multiplied by
``kappa`` (``FphaPlanes``), so ``gamma_0`` is that product and ``kappa`` 1:
the same bound on generation. Where a plane was fitted (``valid_*``) is not
kept, so those columns are null.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from caudal.hydro.cobre.case import Case
from caudal.parquet_files import write_table

if TYPE_CHECKING:  # pyarrow is imported when the file is written
    import pyarrow as pa

FILE = "hydro_models/fpha_hyperplanes.parquet"


def hyperplanes_schema() -> pa.Schema:
    """The file's Arrow schema (the input file's): built on use, so importing this module leaves pyarrow unloaded."""
    import pyarrow as pa

    return pa.schema([
        pa.field("hydro_id", pa.int32(), nullable=False),
        pa.field("stage_id", pa.int32()),
        pa.field("plane_id", pa.int32(), nullable=False),
        pa.field("gamma_0", pa.float64(), nullable=False),
        pa.field("gamma_v", pa.float64(), nullable=False),
        pa.field("gamma_q", pa.float64(), nullable=False),
        pa.field("gamma_s", pa.float64(), nullable=False),
        pa.field("kappa", pa.float64()),
        pa.field("valid_v_min_hm3", pa.float64()),
        pa.field("valid_v_max_hm3", pa.float64()),
        pa.field("valid_q_max_m3s", pa.float64()),
    ])


def __getattr__(name: str):
    if name == "SCHEMA":  # the schema as a constant, for callers that read it as one
        return hyperplanes_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fpha_hyperplanes_table(case: Case) -> pa.Table:
    """One row per plane of every FPHA (hydro, stage), sorted by hydro, stage and plane."""
    import pyarrow as pa

    schema = hyperplanes_schema()
    columns: dict[str, list] = {name: [] for name in schema.names}
    for (hydro_id, stage_id), planes in sorted(case.fpha.items()):
        for plane, values in enumerate(zip(planes.intercept, planes.gamma_v, planes.gamma_q, planes.gamma_s,
                                           strict=True)):
            columns["hydro_id"].append(hydro_id)
            columns["stage_id"].append(stage_id)
            columns["plane_id"].append(plane)
            for name, value in zip(("gamma_0", "gamma_v", "gamma_q", "gamma_s"), values, strict=True):
                columns[name].append(float(value))
            columns["kappa"].append(1.0)
            for name in ("valid_v_min_hm3", "valid_v_max_hm3", "valid_q_max_m3s"):
                columns[name].append(None)
    return pa.table(columns, schema=schema)


def write_fpha_hyperplanes(case: Case, output: str | Path) -> Path | None:
    """Write the planes under ``output`` (a run's folder); ``None`` when no plant has an FPHA stage."""
    if not case.fpha:
        return None
    path = Path(output) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    write_table(fpha_hyperplanes_table(case), partial, compression="zstd")  # calling thread only
    partial.replace(path)
    return path
