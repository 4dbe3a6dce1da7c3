"""A Cobre case run from the command line: the simulation its ``config.json`` asks for after training.

Cobre simulates a trained policy when ``simulation.enabled`` is true, on
``simulation.num_scenarios`` scenarios (0.18: ``simulation.selection``), and
writes per-entity tables. ``caudal train CASE`` does the same through
:func:`simulate_after_training`: the tables of :mod:`caudal.hydro.cobre.results`
in ``OUTPUT/simulation/`` (one Parquet file each), seeded with the case's tree
seed, so ``cobre.simulate(study, policy)`` from Python gives the same tables.
``caudal simulate CASE`` takes its default scenario count from
:func:`simulation_scenarios`. The command line keeps only the hooks; the
decisions live here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caudal.hydro.cobre.config import read_settings
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.format_018.config import read_config
from caudal.hydro.cobre.formats import FORMAT_018, case_format, read_case
from caudal.hydro.cobre.fpha_output import write_fpha_hyperplanes
from caudal.hydro.cobre.results import PolicyLike, simulate, write_simulation
from caudal.hydro.cobre.study import load_case

SIMULATION_DIR = "simulation"


def simulation_scenarios(path: str | Path) -> int | None:
    """The case's ``num_scenarios`` when ``path`` is a Cobre case directory, else ``None``."""
    if not Path(path).is_dir():
        return None
    files = CaseFiles(path)  # config.json alone: the case itself is read when it is simulated
    settings = read_config(files).settings if case_format(path) == FORMAT_018 else read_settings(files)
    return settings.simulation.scenarios


def simulate_after_training(
    path: str | Path, policy: PolicyLike, output: Path | None, *, threads: int | None = None, write: bool = True,
) -> str | None:
    """Simulate ``policy`` as the case's config.json says; the line to print, or ``None`` when it asks for nothing.

    Call it on every rank (the simulation is collective); only the rank with
    ``write`` writes the tables, into ``output / "simulation"`` when ``output``
    is given, and the FPHA planes into ``output / "hydro_models"``
    (fpha_output.py). ``policy`` must have been trained on ``load_case(path).problem``.
    """
    if not Path(path).is_dir():
        return None
    # The case alone, not its problem: formulating it again (its builders are some 90 MB at the national
    # size) beside the trained policy set the run's peak memory even when config.json asks for no simulation.
    case = read_case(path)
    if output is not None and write:
        write_fpha_hyperplanes(case, output)  # the planes the policy was trained on, as Cobre writes them
    settings = case.settings.simulation
    if not settings.enabled or settings.scenarios == 0:
        return None
    del case
    tables = simulate(load_case(path), policy, scenarios=settings.scenarios, threads=threads)
    totals = tables["costs"].column("total_cost").to_numpy().reshape(settings.scenarios, -1).sum(axis=1)
    line = (f"simulated {settings.scenarios} scenarios (config.json): total cost mean {float(np.mean(totals)):.6f}, "
            f"std {float(np.std(totals)):.6f}")
    if output is None:
        return line
    if write:
        write_simulation(tables, output / SIMULATION_DIR)
    return f"{line}; wrote {output / SIMULATION_DIR} (Cobre-style tables)"
