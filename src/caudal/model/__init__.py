"""The problem layer: multistage stochastic LPs and their per-stage array form."""

from caudal.model.problem import CompiledProblem, Problem, ProblemError, Stage, State, Uncertain, Variable
from caudal.model.stage_lp import StageLP, StageTemplate, assemble_stage_lp

__all__ = [
    "CompiledProblem",
    "Problem",
    "ProblemError",
    "Stage",
    "StageLP",
    "StageTemplate",
    "State",
    "Uncertain",
    "Variable",
    "assemble_stage_lp",
]
