"""The one exception a bad or unsupported Cobre case raises.

It subclasses :class:`~caudal.model.problem.ProblemError` (a ``ValueError``) so
that the command line reports it like any other bad problem: one line, exit
status 2. Its message names the file, the entity and the field, because a
planner fixing a case needs to know exactly where to look.
"""

from __future__ import annotations

from caudal.model.problem import ProblemError


class CaseError(ProblemError):
    """A Cobre case is malformed, inconsistent, or uses something caudal does not support.

    ``file`` is relative to the case directory; ``entity`` (e.g. ``"hydro 3"``)
    and ``field`` (e.g. ``"reservoir.max_storage_hm3"``) are ``None`` when the
    problem concerns the whole file.
    """

    def __init__(self, file: str, entity: str | None, field: str | None, problem: str):
        self.file = file
        self.entity = entity
        self.field = field
        self.problem = problem
        where = [file]
        if entity:
            where.append(entity)
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {problem}")


def unsupported(file: str, entity: str | None, field: str | None, feature: str) -> CaseError:
    """The error for a feature of the format that caudal does not model (yet)."""
    return CaseError(file, entity, field, f"{feature}: not supported by caudal (remove it, or run the case with Cobre)")


class CaseWarning(UserWarning):
    """Something in a case that caudal reads as Cobre 0.5.1 does, not as the format's text says."""

    one_log_line = True  # the command line shows it as ``caudal: warning: ...`` (log_destination)
