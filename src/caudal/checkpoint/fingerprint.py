"""Fingerprints: is this checkpoint a state of *this* case under *these* options?

Cuts are only valid for the problem that produced them, and a resumed run is
bit-identical to an uninterrupted one only if the options that shape the policy
are the same. Both are hashed (blake2b) into the checkpoint; a resume compares
them and refuses on a mismatch.

A hash alone cannot say what differs, so the checkpoint also stores a small
summary of the case (stage count, state names, sign, initial state and one
digest per stage) and the options themselves; :func:`case_differences` and
:func:`options_differences` turn a mismatch into a sentence.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import types
from collections.abc import Sequence
from typing import Any

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.model.stage_lp import StageTemplate

DIGEST_SIZE = 32
STAGE_DIGEST_SIZE = 16

OPTIONS_FREE_TO_CHANGE = frozenset({"iterations", "time_limit", "threads", "ranks", "stopping_rules", "stop_when"})
"""Options that may differ between the run that wrote a checkpoint and the one resuming it.

They decide when a run stops or how its work is spread, never which cuts an
iteration adds.

Every other field of ``TrainingOptions`` is fingerprinted, including fields added
later: an option is presumed to change the policy until it is listed here.
"""

OPTIONS_HASHED_UNLESS_DEFAULT = {"multi_cut": "False", "opening_chunk": "0"}
"""Options added after checkpoints were first written, with the canonical text of what runs did before them.

They are fingerprinted only when they differ from that value, so a run that
does what runs did before they existed has the fingerprint it had then, and the
checkpoints it wrote then still resume. ``opening_chunk`` was 0 (no split)
before the split existed; its default is now ``None`` (the split of
``passes.default_opening_chunk``), so a checkpoint of an unsplit run resumes
with ``opening_chunk=0`` and is refused, naming the option, under the default.
"""

_TEMPLATE_ARRAYS = (
    "col_start",
    "row_index",
    "values",
    "col_cost",
    "col_lower",
    "col_upper",
    "row_lower",
    "row_upper",
    "state_out_cols",
    "state_in_cols",
    "probabilities",
    "row_patch_index",
    "row_patch_lower",
    "row_patch_upper",
    "col_patch_index",
    "col_patch_lower",
    "col_patch_upper",
)
_TEMPLATE_SCALARS = ("index", "num_cols", "num_rows", "theta_col", "discount")


def _feed_array(h: Any, name: str, array: np.ndarray) -> None:
    """Hash an array by kind, shape and bits, so int32 and int64 indices hash alike."""
    array = np.asarray(array)
    if array.dtype.kind in "iub":
        canonical = np.ascontiguousarray(array, dtype="<i8")
    else:
        canonical = np.ascontiguousarray(array, dtype="<f8")
    h.update(f"{name}:{canonical.dtype.kind}:{canonical.shape}\n".encode())
    h.update(canonical.tobytes())


def _feed_text(h: Any, name: str, value: str) -> None:
    encoded = value.encode()
    h.update(f"{name}:{len(encoded)}:".encode())
    h.update(encoded)


def stage_digest(template: StageTemplate) -> bytes:
    """16-byte blake2b of one stage's LP data (matrix, bounds, costs, openings)."""
    h = hashlib.blake2b(digest_size=STAGE_DIGEST_SIZE, person=b"caudal-stage")
    for name in _TEMPLATE_SCALARS:
        _feed_text(h, name, repr(float(getattr(template, name))))
    for name in _TEMPLATE_ARRAYS:
        _feed_array(h, name, getattr(template, name))
    return h.digest()


def stage_digests(problem: CompiledProblem) -> np.ndarray:
    """uint8[n_stages * 16]: the digest of every stage, stage after stage.

    Of the single-cut layout: the multi-cut columns are derived from the
    problem data, and whether a run uses them is an option, fingerprinted
    (and reported) as such.
    """
    joined = b"".join(stage_digest(t) for t in problem.single_cut.templates)
    return np.frombuffer(joined, dtype=np.uint8).copy()


def case_fingerprint(problem: CompiledProblem, digests: np.ndarray | None = None) -> bytes:
    """32-byte blake2b of the problem data: every template, initial state, sign, state names.

    Names of columns and rows and the problem's name are left out: renaming
    does not change what the cuts mean. So is the multi-cut layout (see
    :func:`stage_digests`). ``digests`` may pass precomputed
    :func:`stage_digests` to avoid hashing the templates twice.
    """
    h = hashlib.blake2b(digest_size=DIGEST_SIZE, person=b"caudal-case")
    _feed_text(h, "sign", repr(float(problem.sign)))
    _feed_text(h, "n_stages", str(problem.n_stages))
    for name in problem.state_names:
        _feed_text(h, "state", name)
    _feed_array(h, "initial_state", problem.initial_state)
    h.update((stage_digests(problem) if digests is None else digests).tobytes())
    return h.digest()


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def canonical_text(value: Any, n_stages: int | None = None) -> str:
    """A text form of an option value that is the same in every process that builds the same value.

    ``repr`` is not enough: it shows ``np.int64(4)`` for 4 and memory addresses
    for functions and plain objects. Private attributes (a leading underscore,
    or dataclass fields with ``repr=False``) are working memory such as a cut
    selection's cache, not configuration, and are left out. A function (such as a risk measure given as
    ``stage -> measure``) is expanded into its value at every stage when
    ``n_stages`` is known, and named by its qualified name otherwise.
    """
    if value is None or isinstance(value, bool | str):
        return repr(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(canonical_text(v, n_stages) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {canonical_text(value[k], n_stages)}" for k in sorted(value)) + "}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = ", ".join(
            f"{f.name}={canonical_text(getattr(value, f.name))}"
            for f in dataclasses.fields(value)
            if f.repr and not f.name.startswith("_")
        )
        return f"{_type_name(value)}({inner})"
    if isinstance(value, types.FunctionType | types.MethodType | functools.partial):
        if n_stages is not None:
            try:
                return "[" + ", ".join(canonical_text(value(t)) for t in range(n_stages)) + "]"
            except Exception:  # not a function of the stage: fall back to its name
                pass
        name = getattr(value, "__qualname__", type(value).__qualname__)
        return f"function {getattr(value, '__module__', '?')}.{name}"
    if hasattr(value, "__dict__"):
        inner = ", ".join(f"{k}={canonical_text(v)}" for k, v in sorted(vars(value).items()) if not k.startswith("_"))
        return f"{_type_name(value)}({inner})"
    return repr(value)


def policy_options(options: Any, n_stages: int | None = None) -> dict[str, str]:
    """The fingerprinted options of a ``TrainingOptions`` (every field not free to change), as text.

    Options in :data:`OPTIONS_HASHED_UNLESS_DEFAULT` are left out at their default.
    """
    texts = {
        f.name: canonical_text(getattr(options, f.name), n_stages)
        for f in sorted(dataclasses.fields(options), key=lambda f: f.name)
        if f.name not in OPTIONS_FREE_TO_CHANGE
    }
    return {name: text for name, text in texts.items() if OPTIONS_HASHED_UNLESS_DEFAULT.get(name) != text}


def options_fingerprint(options: Any, n_stages: int | None = None) -> bytes:
    """32-byte blake2b of the options that change the policy (``forward_passes``, ``seed``, ...).

    Pass ``n_stages`` when an option may be a function of the stage (a risk
    measure given as ``stage -> measure``): it is then fingerprinted by what it
    returns rather than by its name. The checkpoint layer always does.
    """
    h = hashlib.blake2b(digest_size=DIGEST_SIZE, person=b"caudal-options")
    for name, text in policy_options(options, n_stages).items():
        _feed_text(h, name, text)
    return h.digest()


def case_differences(
    saved_names: Sequence[str],
    saved_sign: float,
    saved_initial: np.ndarray,
    saved_digests: np.ndarray,
    problem: CompiledProblem,
) -> list[str]:
    """What differs between the case summary in a checkpoint and ``problem``, in words."""
    differences: list[str] = []
    n_saved = saved_digests.size // STAGE_DIGEST_SIZE
    if n_saved != problem.n_stages:
        differences.append(f"{n_saved} stages in the checkpoint, {problem.n_stages} in this case")
    if tuple(saved_names) != tuple(problem.state_names):
        differences.append(f"states {list(saved_names)} in the checkpoint, {list(problem.state_names)} here")
    if float(saved_sign) != float(problem.sign):
        sense = {1.0: "min", -1.0: "max"}
        differences.append(
            f"sense {sense.get(float(saved_sign), saved_sign)!s} in the checkpoint, "
            f"{sense.get(float(problem.sign), problem.sign)!s} here"
        )
    if saved_initial.shape != problem.initial_state.shape or not np.array_equal(saved_initial, problem.initial_state):
        differences.append(
            f"initial state {saved_initial.tolist()} in the checkpoint, {problem.initial_state.tolist()} here"
        )
    if n_saved == problem.n_stages:
        saved = saved_digests.reshape(n_saved, STAGE_DIGEST_SIZE)
        current = stage_digests(problem).reshape(n_saved, STAGE_DIGEST_SIZE)
        changed = np.flatnonzero((saved != current).any(axis=1)).tolist()
        if changed:
            shown = ", ".join(str(t) for t in changed[:10]) + (", ..." if len(changed) > 10 else "")
            differences.append(
                f"the LP data (matrix, bounds, costs or openings) of {len(changed)} stage(s) differs: {shown}"
            )
    return differences


def options_differences(saved: dict[str, str], options: Any, n_stages: int | None = None) -> list[str]:
    """What differs between saved policy options and ``options``, in words."""
    current = policy_options(options, n_stages)
    differences = []
    for name in sorted(set(saved) | set(current)):
        default = OPTIONS_HASHED_UNLESS_DEFAULT.get(name, "(absent)")
        before, now = saved.get(name, default), current.get(name, default)
        if before != now:
            differences.append(f"{name} was {before} in the checkpoint, is {now} now")
    return differences
