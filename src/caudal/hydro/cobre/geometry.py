"""``system/hydro_geometry.parquet``: each reservoir's volume-height-area curve.

The curve is a table of points per plant, in increasing volume. Between two
points a quantity is interpolated linearly; outside the table it is held at
the nearest end (no extrapolation), and its slope is that of the nearest
interval. These are the conventions Cobre 0.5.1 uses when it linearizes
evaporation around a reference storage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles

FILE = "system/hydro_geometry.parquet"


@dataclass(frozen=True)
class Curve:
    """One reservoir's points, in increasing volume."""

    volume: np.ndarray  # hm3
    height: np.ndarray  # m
    area: np.ndarray  # km2

    def area_at(self, volume: float) -> float:
        """The surface (km2) at ``volume``: interpolated, held at the table's ends."""
        return float(np.interp(volume, self.volume, self.area))

    def area_slope(self, volume: float) -> float:
        """d(area)/d(volume) (km2 per hm3) of the interval holding ``volume`` (the end one outside the table)."""
        if self.volume.size < 2:
            return 0.0
        i = int(np.searchsorted(self.volume, volume, side="right")) - 1
        i = min(max(i, 0), self.volume.size - 2)
        return float((self.area[i + 1] - self.area[i]) / (self.volume[i + 1] - self.volume[i]))


def read_geometry(files: CaseFiles) -> dict[int, Curve]:
    """The curves by hydro id (empty without the file)."""
    if not files.exists(FILE):
        return {}
    columns = files.table(FILE, {"hydro_id": INT, "volume_hm3": FLOAT, "height_m": FLOAT, "area_km2": FLOAT})
    for name in ("volume_hm3", "height_m", "area_km2"):
        negative = np.flatnonzero(columns[name] < 0)
        if negative.size:
            row = int(negative[0])
            raise CaseError(FILE, f"hydro {int(columns['hydro_id'][row])}", name,
                            f"must be non-negative, got {columns[name][row]:g} (row {row})")
    curves: dict[int, Curve] = {}
    for hydro_id in np.unique(columns["hydro_id"]):
        rows = np.flatnonzero(columns["hydro_id"] == hydro_id)
        volume = columns["volume_hm3"][rows]
        if np.any(np.diff(volume) <= 0):
            raise CaseError(FILE, f"hydro {int(hydro_id)}", "volume_hm3",
                            "must increase strictly from row to row within a plant")
        curves[int(hydro_id)] = Curve(volume, columns["height_m"][rows], columns["area_km2"][rows])
    return curves


def check_plants(curves: dict[int, Curve], hydro_ids: set[int], hydros_file: str) -> None:
    for hydro_id in curves:
        if hydro_id not in hydro_ids:
            raise CaseError(FILE, f"hydro {hydro_id}", "hydro_id",
                            f"refers to hydro {hydro_id}, which is not defined in {hydros_file}")
