"""Cobre case directories: read them, train them with caudal, simulate the policy.

Cobre (github.com/cobre-rs/cobre) is a Rust SDDP engine for hydrothermal
dispatch whose case directories (formats 0.5.x and 0.18) planners already
keep. This package reads such a directory, checks it, refuses what caudal does not model
(with an error naming the file, the entity and the field), and formulates the
same stage LPs as Cobre's reference, so a case has the same optimal cost in
both engines::

    from caudal.hydro import cobre
    import caudal

    study = cobre.load_case("my_case")
    result = caudal.train(study.problem, iterations=study.training.iterations,
                          forward_passes=study.training.forward_passes, seed=study.training.seed)
    tables = cobre.simulate(study, result.policy)  # scenarios and seed from config.json
    cobre.write_simulation(tables, "my_case/output/simulation")

See ``docs/cobre.md`` for what is supported.
"""

from caudal.hydro.cobre.errors import CaseError, CaseWarning
from caudal.hydro.cobre.examples import example_case
from caudal.hydro.cobre.fpha_output import write_fpha_hyperplanes
from caudal.hydro.cobre.openings import write_noise_openings
from caudal.hydro.cobre.results import simulate, simulation_tables, write_simulation
from caudal.hydro.cobre.study import CobreStudy, external_forward_inflows, load_case, training_defaults

__all__ = [
    "external_forward_inflows",
    "CaseError",
    "CaseWarning",
    "CobreStudy",
    "example_case",
    "load_case",
    "simulate",
    "simulation_tables",
    "training_defaults",
    "write_fpha_hyperplanes",
    "write_noise_openings",
    "write_simulation",
]
