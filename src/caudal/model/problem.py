"""The Python API for multistage stochastic linear problems.

A :class:`Problem` is a sequence of stages. Each stage has variables with bounds
and costs, linear constraints, state variables that link it to the next stage,
and a finite set of *openings*: equally likely (unless probabilities are given)
realisations of its random parameters, drawn independently of other stages.
Random parameters (:class:`Uncertain`) may stand in constraint right-hand sides
and variable bounds.

Example: the three-stage hydro-thermal problem of SDDP.jl's tutorial::

    problem = Problem()
    for t, fuel_cost in enumerate([50.0, 100.0, 150.0]):
        stage = problem.add_stage()
        volume = stage.add_state("volume", lower=0, upper=200, initial=200)
        inflow = stage.add_uncertain("inflow", [0.0, 50.0, 100.0])
        thermal = stage.add_variable("thermal", cost=fuel_cost)
        hydro = stage.add_variable("hydro")
        spill = stage.add_variable("spill")
        stage.add_constraint({thermal: 1, hydro: 1}, "==", 150)
        stage.add_constraint(
            {volume.out: 1, hydro: 1, spill: 1, volume.incoming: -1}, "==", inflow
        )

The builder checks what it is given as it goes, so a mistake is reported at the
line that made it. :meth:`Problem.compile` turns the stages into the array form
(:mod:`caudal.model.stage_lp`) that the solvers consume.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from caudal.model.stage_lp import INDEX, StageTemplate, with_opening_columns

SENSES = ("<=", ">=", "==")


class ProblemError(ValueError):
    """A problem definition is inconsistent; the message says where."""


@dataclass(frozen=True, slots=True)
class Variable:
    """A column of one stage's LP."""

    stage: int
    column: int
    name: str


@dataclass(frozen=True, slots=True)
class State:
    """A state variable: ``out`` is decided in this stage, ``incoming`` is last stage's."""

    name: str
    out: Variable
    incoming: Variable


@dataclass(frozen=True, slots=True)
class Uncertain:
    """A random parameter of one stage; its value is chosen by the opening."""

    stage: int
    position: int
    name: str


Bound = float | Uncertain


class Stage:
    """Builder of one stage. Obtain it from :meth:`Problem.add_stage`."""

    def __init__(self, problem: Problem, index: int, discount: float, name: str):
        self._problem = problem
        self.index = index
        self.name = name
        self.discount = float(discount)
        self._col_names: list[str] = []
        # Numeric bounds and costs in machine arrays (a random bound's slot holds
        # the placeholder its column starts from); random bounds by column.
        self._col_lower = array("d")
        self._col_upper = array("d")
        self._col_cost = array("d")
        self._random_bounds: dict[int, tuple[Bound, Bound]] = {}
        # The constraint matrix as (row, column, coefficient) entries in machine
        # arrays, not a dict per row: a national-size case has some 600,000
        # entries, whose Python objects would outweigh the compiled LPs.
        self._entry_rows = array("q")
        self._entry_cols = array("q")
        self._entry_values = array("d")
        self._row_senses: list[str] = []
        self._row_rhs: list[Bound] = []
        self._row_names: list[str] = []
        self._states: list[State] = []
        self._initial: list[float | None] = []
        self._uncertain_names: list[str] = []
        self._uncertain_values: list[np.ndarray] = []
        self._probabilities: np.ndarray | None = None
        self._extra: dict[str, np.ndarray] = {}

    # -- variables ---------------------------------------------------------
    def add_variable(
        self, name: str, *, lower: Bound = 0.0, upper: Bound = math.inf, cost: float = 0.0
    ) -> Variable:
        """Add a column with bounds (numbers or :class:`Uncertain`) and a cost."""
        self._check_bound(name, "lower", lower)
        self._check_bound(name, "upper", upper)
        if not math.isfinite(cost):
            raise ProblemError(f"stage {self.index}, variable {name!r}: cost must be finite, got {cost}")
        if isinstance(lower, float | int) and isinstance(upper, float | int) and lower > upper:
            raise ProblemError(
                f"stage {self.index}, variable {name!r}: lower bound {lower} exceeds upper bound {upper}"
            )
        column = len(self._col_names)
        self._col_names.append(name)
        self._col_lower.append(_static(lower, -math.inf))
        self._col_upper.append(_static(upper, math.inf))
        self._col_cost.append(float(cost))
        if _is_random(lower) or _is_random(upper):
            self._random_bounds[column] = (lower, upper)
        return Variable(self.index, column, name)

    def add_state(
        self,
        name: str,
        *,
        lower: float = 0.0,
        upper: float = math.inf,
        initial: float | None = None,
        cost: float = 0.0,
    ) -> State:
        """Add a state variable; ``initial`` is its incoming value in the first stage."""
        if any(s.name == name for s in self._states):
            raise ProblemError(f"stage {self.index}: state {name!r} is defined twice")
        if self.index == 0 and initial is None:
            raise ProblemError(f"stage 0, state {name!r}: the first stage needs an initial value")

        if initial is not None and not math.isfinite(initial):
            raise ProblemError(f"stage {self.index}, state {name!r}: initial value must be finite")
        out = self.add_variable(name, lower=lower, upper=upper, cost=cost)
        incoming = self.add_variable(f"{name}_in", lower=-math.inf, upper=math.inf)
        state = State(name, out, incoming)
        self._states.append(state)
        self._initial.append(None if initial is None else float(initial))
        return state

    # -- uncertainty -------------------------------------------------------
    def add_uncertain(self, name: str, values: Sequence[float] | np.ndarray) -> Uncertain:
        """Add a random parameter whose value in opening ``o`` is ``values[o]``.

        All random parameters of a stage are indexed by the same openings, so
        they must have the same number of values: opening ``o`` is one joint
        realisation of all of them.
        """
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        if array.size == 0:
            raise ProblemError(f"stage {self.index}, uncertain {name!r}: needs at least one value")
        if not np.all(np.isfinite(array)):
            raise ProblemError(f"stage {self.index}, uncertain {name!r}: values must be finite")
        if self._uncertain_values and array.size != self._uncertain_values[0].size:
            raise ProblemError(
                f"stage {self.index}, uncertain {name!r}: has {array.size} values but "
                f"{self._uncertain_names[0]!r} has {self._uncertain_values[0].size}; "
                "every random parameter of a stage has one value per opening"
            )
        self._uncertain_names.append(name)
        self._uncertain_values.append(array)
        return Uncertain(self.index, len(self._uncertain_names) - 1, name)

    def set_probabilities(self, probabilities: Sequence[float] | np.ndarray) -> None:
        """Give the openings' probabilities (default: equally likely)."""
        array = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        if np.any(array < 0) or not np.all(np.isfinite(array)):
            raise ProblemError(f"stage {self.index}: probabilities must be finite and non-negative")
        if abs(array.sum() - 1.0) > 1e-9:
            raise ProblemError(f"stage {self.index}: probabilities sum to {float(array.sum())!r}, not 1")
        self._probabilities = array / array.sum()

    @property
    def n_openings(self) -> int:
        return int(self._uncertain_values[0].size) if self._uncertain_values else 1

    @property
    def uncertain(self) -> dict[str, np.ndarray]:
        """Each random parameter's values over the openings, by name (copies)."""
        return {name: values.copy() for name, values in zip(self._uncertain_names, self._uncertain_values, strict=True)}

    # -- constraints -------------------------------------------------------
    def add_constraint(
        self, terms: Mapping[Variable, float], sense: str, rhs: Bound, *, name: str | None = None
    ) -> int:
        """Add ``sum(coef * var) sense rhs``; ``rhs`` may be an :class:`Uncertain`.

        Returns the row's index in the stage.
        """
        row = len(self._row_senses)
        row_name = name or f"c{row}"
        if sense not in SENSES:
            raise ProblemError(f"stage {self.index}, constraint {row_name!r}: sense must be one of {SENSES}")
        self._check_bound(row_name, "rhs", rhs)
        coefficients: dict[int, float] = {}
        for variable, coef in terms.items():
            if not isinstance(variable, Variable):
                raise ProblemError(
                    f"stage {self.index}, constraint {row_name!r}: {variable!r} is not a Variable "
                    "(use state.out or state.incoming for a state)"
                )
            if variable.stage != self.index:
                raise ProblemError(
                    f"stage {self.index}, constraint {row_name!r}: variable {variable.name!r} "
                    f"belongs to stage {variable.stage}"
                )
            if not math.isfinite(coef):
                raise ProblemError(f"stage {self.index}, constraint {row_name!r}: non-finite coefficient")
            if coef != 0.0:
                coefficients[variable.column] = coefficients.get(variable.column, 0.0) + float(coef)
        self._entry_rows.extend([row] * len(coefficients))
        self._entry_cols.extend(coefficients.keys())
        self._entry_values.extend(coefficients.values())
        self._row_senses.append(SENSES[SENSES.index(sense)])
        self._row_rhs.append(rhs)
        self._row_names.append(row_name)
        return row

    # -- helpers -----------------------------------------------------------
    def _check_bound(self, owner: str, what: str, value: Bound) -> None:
        if isinstance(value, Uncertain):
            if value.stage != self.index:
                raise ProblemError(
                    f"stage {self.index}, {owner!r}: uncertain {value.name!r} belongs to stage {value.stage}"
                )
            return
        if isinstance(value, bool) or not isinstance(value, float | int | np.floating | np.integer):
            raise ProblemError(f"stage {self.index}, {owner!r}: {what} must be a number or Uncertain")
        if math.isnan(value):
            raise ProblemError(f"stage {self.index}, {owner!r}: {what} is NaN")

    @property
    def states(self) -> tuple[State, ...]:
        return tuple(self._states)

    def _release(self) -> None:
        """Let go of the columns, rows and openings once the template is built (``release_builders``).

        The states and their initial values stay: they are small, and the
        problem's checks and state names read them.
        """
        self._col_names = []
        self._col_lower, self._col_upper, self._col_cost = array("d"), array("d"), array("d")
        self._random_bounds = {}
        self._entry_rows, self._entry_cols, self._entry_values = array("q"), array("q"), array("d")
        self._row_senses, self._row_rhs, self._row_names = [], [], []
        self._uncertain_names, self._uncertain_values = [], []
        self._probabilities = None
        self._extra = {}

    def compile(
        self, is_last: bool, sign: float, value_bound: float, extra: Mapping[str, np.ndarray] | None = None
    ) -> StageTemplate:
        """Build the array form; ``sign`` is -1 for a maximisation problem.

        ``extra`` maps every random parameter's name to further realisations
        that forward passes may visit but the backward pass does not (out of
        sample, historical): they become patch rows after the openings'.
        """
        self._extra = self._check_extra(extra)
        n_open = self.n_openings + (next(iter(self._extra.values())).size if self._extra else 0)
        names = list(self._col_names)
        # The value-function column: cost-to-go of later stages, bounded below.
        theta_col = len(names)
        names.append("theta")
        num_cols = len(names)
        col_lower = np.append(np.asarray(self._col_lower, dtype=np.float64), 0.0 if is_last else value_bound)
        col_upper = np.append(np.asarray(self._col_upper, dtype=np.float64), 0.0 if is_last else math.inf)
        cost = np.append(sign * np.asarray(self._col_cost, dtype=np.float64), 0.0 if is_last else self.discount)

        col_patch = sorted(self._random_bounds)
        col_patch_lower = np.empty((n_open, len(col_patch)))
        col_patch_upper = np.empty((n_open, len(col_patch)))
        for k, j in enumerate(col_patch):
            lower_spec, upper_spec = self._random_bounds[j]
            col_patch_lower[:, k] = self._values(lower_spec, n_open)
            col_patch_upper[:, k] = self._values(upper_spec, n_open)
            bad = np.nonzero(col_patch_lower[:, k] > col_patch_upper[:, k])[0]
            if bad.size:
                raise ProblemError(
                    f"stage {self.index}, variable {names[j]!r}: lower bound exceeds upper bound "
                    f"in opening {int(bad[0])}"
                )

        num_rows = len(self._row_senses)
        row_lower = np.full(num_rows, -math.inf)
        row_upper = np.full(num_rows, math.inf)
        row_patch = []
        for i, (sense, rhs) in enumerate(zip(self._row_senses, self._row_rhs, strict=True)):
            value = _static(rhs, 0.0)
            if sense in (">=", "=="):
                row_lower[i] = value
            if sense in ("<=", "=="):
                row_upper[i] = value
            if _is_random(rhs):
                row_patch.append(i)
        row_patch_lower = np.empty((n_open, len(row_patch)))
        row_patch_upper = np.empty((n_open, len(row_patch)))
        for k, i in enumerate(row_patch):
            sense, rhs = self._row_senses[i], self._row_rhs[i]
            values = self._values(rhs, n_open)
            row_patch_lower[:, k] = values if sense in (">=", "==") else -math.inf
            row_patch_upper[:, k] = values if sense in ("<=", "==") else math.inf

        col_start, row_index, values = self._csc(num_cols)
        probabilities = (
            self._probabilities
            if self._probabilities is not None
            else np.full(self.n_openings, 1.0 / self.n_openings)
        )
        if probabilities.size != self.n_openings:
            raise ProblemError(
                f"stage {self.index}: {probabilities.size} probabilities for {self.n_openings} openings"
            )
        return StageTemplate(
            index=self.index,
            num_cols=num_cols,
            num_rows=num_rows,
            col_start=col_start,
            row_index=row_index,
            values=values,
            col_cost=cost,
            col_lower=col_lower,
            col_upper=col_upper,
            row_lower=row_lower,
            row_upper=row_upper,
            state_out_cols=np.array([s.out.column for s in self._states], dtype=INDEX),
            state_in_cols=np.array([s.incoming.column for s in self._states], dtype=INDEX),
            theta_col=theta_col,
            discount=self.discount,
            cut_cols=np.array([theta_col], dtype=INDEX),
            cut_weights=np.ones(1),
            probabilities=np.ascontiguousarray(probabilities, dtype=np.float64),
            row_patch_index=np.array(row_patch, dtype=INDEX),
            row_patch_lower=row_patch_lower,
            row_patch_upper=row_patch_upper,
            col_patch_index=np.array(col_patch, dtype=INDEX),
            col_patch_lower=col_patch_lower,
            col_patch_upper=col_patch_upper,
            col_names=tuple(names),
            row_names=tuple(self._row_names),
        )

    def _values(self, bound: Bound, n_open: int) -> np.ndarray:
        if isinstance(bound, Uncertain):
            values = self._uncertain_values[bound.position]
            return np.concatenate((values, self._extra[bound.name])) if self._extra else values
        return np.full(n_open, float(bound))

    def _check_extra(self, extra: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        if not extra:
            return {}
        names = set(self._uncertain_names)
        if set(extra) != names:
            raise ProblemError(
                f"stage {self.index}: forward realisations name {sorted(extra)}, "
                f"the stage's random parameters are {sorted(names)}"
            )
        arrays = {name: np.asarray(values, dtype=np.float64).reshape(-1) for name, values in extra.items()}
        sizes = {a.size for a in arrays.values()}
        if len(sizes) != 1 or not all(np.all(np.isfinite(a)) for a in arrays.values()):
            raise ProblemError(f"stage {self.index}: forward realisations must be finite and of equal length")
        return arrays

    @property
    def _nnz(self) -> int:
        return len(self._entry_values)

    def _csc(self, num_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns in order, each column's entries in row order (a row holds a column at most once)."""
        rows = np.asarray(self._entry_rows, dtype=np.int64)
        cols = np.asarray(self._entry_cols, dtype=np.int64)
        order = np.lexsort((rows, cols))
        col_start = np.zeros(num_cols + 1, dtype=INDEX)
        col_start[1:] = np.cumsum(np.bincount(cols, minlength=num_cols))
        row_index = rows[order].astype(INDEX)
        values = np.asarray(self._entry_values, dtype=np.float64)[order]
        return col_start, row_index, values


class SharedNames:
    """Gives the templates of one problem a single copy of each column and row name.

    Every stage builds its own name strings, and a study's stages mostly repeat
    each other's (``storage[3]`` is the same column at every stage): on the
    national case (2,735 columns and 731 rows, 120 stages) the templates held
    415,801 strings (25 MB, plus 3 MB of tuples) for 3,466 distinct names. A
    template whose names equal an earlier one's takes that tuple; one with names
    of its own takes the strings already seen. Names are only ever read, so
    sharing them changes nothing but the memory.
    """

    def __init__(self) -> None:
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._strings: dict[str, str] = {}

    def share(self, template: StageTemplate) -> StageTemplate:
        """``template`` with its names replaced by equal ones already held (itself if none differ)."""
        col_names, row_names = self._names(template.col_names), self._names(template.row_names)
        if col_names is template.col_names and row_names is template.row_names:
            return template
        return replace(template, col_names=col_names, row_names=row_names)

    def _names(self, names: tuple[str, ...]) -> tuple[str, ...]:
        held = self._tuples.get(names)
        if held is None:
            strings = self._strings
            held = tuple(strings.setdefault(name, name) for name in names)
            self._tuples[held] = held
        return held


class SharedArrays:
    """Gives the templates of one problem a single, read-only copy of each array they hold equal.

    The stages of a study mostly repeat each other's bounds, costs and matrix
    structure: on the national case (160 hydros, 120 stages) the templates held
    23.0 MB of arrays of which 10.5 MB repeated an earlier stage's bytes (all
    120 ``col_lower`` are equal, ``col_cost`` takes 5 values, the matrix pattern
    26). A template array equal, bit for bit and in dtype and shape, to one
    already held is replaced by it, as it is compiled, so the copies never
    accumulate. Every template array is made read-only, since a write into one
    would now reach other stages (templates are only ever read: the solvers get
    their own scaled arrays).
    """

    def __init__(self) -> None:
        self._held: dict[tuple[str, tuple[int, ...], int], list[np.ndarray]] = {}

    def share(self, template: StageTemplate) -> StageTemplate:
        """``template`` with its arrays replaced by equal ones already held, all of them read-only."""
        shared = {name: self._array(value) for name, value in vars(template).items() if isinstance(value, np.ndarray)}
        return replace(template, **shared)

    def _array(self, array: np.ndarray) -> np.ndarray:
        data = array.tobytes()
        candidates = self._held.setdefault((array.dtype.str, array.shape, hash(data)), [])
        for held in candidates:
            if held.tobytes() == data:
                return held
        array.flags.writeable = False
        candidates.append(array)
        return array


def _is_random(bound: Bound) -> bool:
    return isinstance(bound, Uncertain)


def _static(bound: Bound, placeholder: float) -> float:
    return placeholder if isinstance(bound, Uncertain) else float(bound)


class Problem:
    """A multistage stochastic linear problem with stagewise-independent openings.

    Parameters
    ----------
    sense:
        ``"min"`` (default) or ``"max"``. Bounds reported by training are in the
        problem's own sense.
    value_bound:
        A bound on the cost-to-go of every stage (a lower bound when minimising,
        an upper bound when maximising) that the first cuts start from. The
        default 0 suits problems whose costs are non-negative.
    name:
        Shown in logs and outputs.
    """

    def __init__(self, *, sense: str = "min", value_bound: float = 0.0, name: str = "problem"):
        if sense not in ("min", "max"):
            raise ProblemError(f"sense must be 'min' or 'max', got {sense!r}")
        if not math.isfinite(value_bound):
            raise ProblemError("value_bound must be finite")
        self.sense = sense
        self.value_bound = float(value_bound)
        self.name = name
        self.stages: list[Stage] = []
        self._released = False

    def add_stage(self, *, discount: float = 1.0, name: str | None = None) -> Stage:
        """Append a stage. ``discount`` multiplies the cost-to-go of the stages after it."""
        if not math.isfinite(discount) or discount <= 0.0:
            raise ProblemError(f"stage {len(self.stages)}: discount must be positive and finite")
        stage = Stage(self, len(self.stages), discount, name or f"stage {len(self.stages)}")
        self.stages.append(stage)
        return stage

    @property
    def sign(self) -> float:
        """+1 when minimising, -1 when maximising: internal objectives are minimised."""
        return 1.0 if self.sense == "min" else -1.0

    def compile(
        self,
        forward_realisations: Sequence[Mapping[str, np.ndarray]] | None = None,
        *,
        release_builders: bool = False,
    ) -> CompiledProblem:
        """Check the stages fit together and build their array form.

        ``forward_realisations`` (one mapping per stage, random parameter name to
        values) adds realisations that only forward passes visit; see
        :mod:`caudal.sddp.sampling`.

        With ``release_builders``, each stage's columns, rows and openings are
        let go as soon as its template is built, so the builders and the
        templates are never held whole side by side: the peak of loading the
        national case is that much lower (about 20 MB). The problem cannot be
        compiled again afterwards; ``caudal train`` compiles its case this way.
        """
        if self._released:
            raise ProblemError(
                f"problem {self.name!r} was compiled with release_builders=True: its stages' data is gone; "
                "build the problem again to compile it again"
            )
        if forward_realisations is not None and len(forward_realisations) != len(self.stages):
            raise ProblemError(
                f"forward realisations given for {len(forward_realisations)} stages, the problem has "
                f"{len(self.stages)}"
            )
        if not self.stages:
            raise ProblemError("the problem has no stages")
        first = self.stages[0]
        names = [s.name for s in first.states]
        for stage in self.stages[1:]:
            other = [s.name for s in stage.states]
            if other != names:
                raise ProblemError(
                    f"stage {stage.index}: states {other} differ from stage 0's {names}; "
                    "every stage must declare the same states in the same order"
                )
        if not names:
            raise ProblemError("the problem has no state variables; a single LP needs no SDDP")
        self._check_memory()
        for stage in self.stages[1:]:
            for state, given, first_value in zip(stage.states, stage._initial, first._initial, strict=True):
                if given is not None and given != first_value:
                    raise ProblemError(
                        f"stage {stage.index}, state {state.name!r}: initial value {given} differs from the "
                        f"first stage's {first_value}; only the first stage's initial value is used (later "
                        "stages start from the previous stage's outgoing state)"
                    )
        initial = np.array(first._initial, dtype=np.float64)
        shared_names, shared_arrays = SharedNames(), SharedArrays()
        templates = []
        for stage in self.stages:
            templates.append(shared_arrays.share(shared_names.share(stage.compile(
                is_last=(stage.index == len(self.stages) - 1),
                sign=self.sign,
                value_bound=self.sign * self.value_bound,
                extra=forward_realisations[stage.index] if forward_realisations is not None else None,
            ))))
            if release_builders:
                stage._release()
        self._released = release_builders
        templates = tuple(templates)
        return CompiledProblem(
            name=self.name,
            sign=self.sign,
            templates=templates,
            initial_state=initial,
            state_names=tuple(names),
        )


    def _check_memory(self) -> None:
        """Refuse, before compiling, a problem whose array form would not fit in memory."""
        from caudal.model.size import stage_bytes, too_large

        needed = sum(
            stage_bytes(len(stage._row_senses), len(stage._col_names), stage._nnz,
                        stage.n_openings, len(stage._uncertain_names))
            for stage in self.stages
        )
        biggest = max(self.stages, key=lambda stage: stage.n_openings)
        problem = too_large(f"{self.name or 'the problem'} ({len(self.stages)} stages, up to "
                            f"{biggest.n_openings} openings per stage)", needed)
        if problem is not None:
            raise ProblemError(problem)


@dataclass(frozen=True, eq=False)
class CompiledProblem:
    """A problem in array form: one :class:`StageTemplate` per stage.

    ``base`` is set on a multi-cut layout (:meth:`with_multi_cut`) and is the
    single-cut problem it was built from: the problem data the user gave, which
    is what fingerprints and the deterministic equivalent look at.
    """

    name: str
    sign: float
    templates: tuple[StageTemplate, ...]
    initial_state: np.ndarray
    state_names: tuple[str, ...]
    base: CompiledProblem | None = None

    @property
    def multi_cut(self) -> bool:
        """Whether stages carry one value-function column per next-stage opening."""
        return self.base is not None

    @property
    def single_cut(self) -> CompiledProblem:
        """The problem in the single-cut layout (itself when it is in that layout)."""
        return self.base if self.base is not None else self

    def with_multi_cut(self) -> CompiledProblem:
        """The multi-cut layout: every stage but the last gets one theta column per next-stage opening.

        The layout is a function of the problem alone (see
        :func:`~caudal.model.stage_lp.with_opening_columns`), so a policy
        trained in it can be evaluated on a problem compiled afresh.
        """
        if self.multi_cut:
            return self
        last = self.n_stages - 1
        templates = tuple(
            template if t == last else with_opening_columns(template, self.templates[t + 1].probabilities)
            for t, template in enumerate(self.templates)
        )
        return replace(self, templates=templates, base=self)

    @property
    def n_stages(self) -> int:
        return len(self.templates)

    @property
    def n_states(self) -> int:
        return int(self.initial_state.shape[0])
