"""The hydro physics beyond constant productivity, read for both format versions: FPHA and evaporation.

Each reader hands over the plants, the stages and the production models it
read; this module reads the planes (fpha.py), the reservoir curves
(geometry.py) and the evaporation lines (evaporation.py), and stores them on
the case for the formulation.
"""

from __future__ import annotations

from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.evaporation import read_evaporation
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.fpha import PlaneFitter, check_fpha_plants, read_fpha
from caudal.hydro.cobre.fpha_fitting import fit_planes
from caudal.hydro.cobre.geometry import check_plants, read_geometry
from caudal.hydro.cobre.production import ProductionModel
from caudal.hydro.cobre.system import HYDROS


def read_hydro_physics(files: CaseFiles, case: Case, models: dict[int, ProductionModel],
                       fit_planes: PlaneFitter = fit_planes) -> None:
    """Fill ``case``'s FPHA planes and evaporation lines (with their costs) from the case's files.

    ``fit_planes`` computes a plant's planes from its geometry: Cobre 0.5.1's way unless the reader
    passes its format's (0.18: ``fpha_fitting_018.fit_planes_018``).
    """
    check_fpha_plants(models, case.hydros, len(case.stages))
    curves = read_geometry(files)
    check_plants(curves, {h.id for h in case.hydros}, HYDROS)
    case.fpha, case.fpha_turbined_costs = read_fpha(files, models, case.stages, case.hydros, curves,
                                                           fit_planes)
    case.evaporation, case.evaporation_costs = read_evaporation(files, case.hydros, case.stages, curves)
