"""caudal: Stochastic Dual Dynamic Programming for HPC clusters.

Define a multistage stochastic LP with :class:`Problem`, then :func:`train` a
policy; :func:`deterministic_equivalent` solves small problems exactly.
"""

from caudal import _arrow_allocator  # noqa: F401 (first: it must run before any module imports pyarrow)
from caudal._version import __version__
from caudal.api import Decision, Policy, TrainingResult, deterministic_equivalent, load_policy, simulate, train
from caudal.model.problem import Problem, ProblemError, Stage, State, Uncertain, Variable
from caudal.sddp.risk import CVaR, EAVaR, Expectation, RiskMeasure
from caudal.sddp.sampling import Historical, InSample, OutOfSample, SamplingScheme
from caudal.sddp.selection import CutSelection, Level1, LimitedMemoryLevel1
from caudal.sddp.stopping import BoundStalling, SimulationStalling, StatisticalGap, StoppingRule

__all__ = [
    "BoundStalling",
    "Historical",
    "InSample",
    "OutOfSample",
    "SamplingScheme",
    "CutSelection",
    "Level1",
    "LimitedMemoryLevel1",
    "SimulationStalling",
    "StatisticalGap",
    "StoppingRule",
    "CVaR",
    "EAVaR",
    "Expectation",
    "RiskMeasure",
    "Decision",
    "Policy",
    "Problem",
    "ProblemError",
    "Stage",
    "State",
    "TrainingResult",
    "Uncertain",
    "Variable",
    "__version__",
    "deterministic_equivalent",
    "examples",
    "load_policy",
    "simulate",
    "train",
]


def __getattr__(name: str):
    """``caudal.examples`` on first use: a training of a Cobre case or of a user's problem never builds brazil4."""
    if name == "examples":
        import caudal.examples

        return caudal.examples
    raise AttributeError(f"module 'caudal' has no attribute {name!r}")
