"""Typed, checked access to the fields of one JSON object of a case.

Every value read from a case goes through a :class:`Record`, which checks its
type and range and, when something is wrong, raises a
:class:`~caudal.hydro.cobre.errors.CaseError` naming the file, the entity and
the field. A record also remembers which keys were read: :meth:`Record.finish`
refuses any key left over, so a field caudal does not understand is reported
instead of being silently ignored.
"""

from __future__ import annotations

import math
from typing import Any

from caudal.hydro.cobre.errors import CaseError, unsupported

MISSING: Any = object()
"""Default meaning "the field is required"."""

MAX_MAGNITUDE = 1e12
"""Largest magnitude a number of a case may have.

No quantity of a hydrothermal system comes near it (the largest reservoirs
hold about 2e5 hm3, costs are below 1e7 per MWh), while the LP solver treats
1e20 as infinite and loses all precision well before: a number beyond this is
a typo or a unit mistake, refused here naming the field rather than later as
an LP that HiGHS rejects.
"""

MAX_INTEGER = 2**63 - 1
"""Largest integer a field may hold unless it says otherwise (ids and counts are int64 downstream)."""


class Record:
    """One JSON object of ``file``, describing ``entity`` (``None`` for a whole file)."""

    def __init__(self, file: str, entity: str | None, data: Any, prefix: str = ""):
        if not isinstance(data, dict):
            raise CaseError(file, entity, prefix.rstrip(".") or None, f"expected a JSON object, got {_kind(data)}")
        self.file = file
        self.entity = entity
        self.data = data
        self.prefix = prefix
        self._seen: set[str] = {"$schema"}

    # -- errors ------------------------------------------------------------------
    def error(self, key: str | None, problem: str) -> CaseError:
        return CaseError(self.file, self.entity, self._path(key), problem)

    def refuse(self, key: str, feature: str) -> CaseError:
        return unsupported(self.file, self.entity, self._path(key), feature)

    def _path(self, key: str | None) -> str | None:
        if key is None:
            return self.prefix.rstrip(".") or None
        return f"{self.prefix}{key}"

    # -- raw access ----------------------------------------------------------------
    def has(self, key: str) -> bool:
        """Whether ``key`` is present and not null."""
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = MISSING) -> Any:
        """The value of ``key``; ``default`` when absent or null (an error when there is none)."""
        self._seen.add(key)
        if key not in self.data or self.data[key] is None:
            if default is MISSING:
                raise self.error(key, "is required")
            return default
        return self.data[key]

    def _given(self, key: str, default: Any) -> bool:
        """Whether ``key`` holds a value to check (else the caller returns ``default``)."""
        self._seen.add(key)
        if self.data.get(key) is not None:
            return True
        if default is MISSING:
            raise self.error(key, "is required")
        return False

    def ignore(self, *keys: str) -> None:
        """Mark keys as read: they do not change the problem (names, output options)."""
        self._seen.update(keys)

    # -- typed access ----------------------------------------------------------
    def number(
        self,
        key: str,
        default: Any = MISSING,
        *,
        minimum: float | None = None,
        positive: bool = False,
        allow_inf: bool = False,
    ) -> Any:
        if not self._given(key, default):
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, got {_kind(value)}")
        try:
            value = float(value)
        except OverflowError:  # an integer literal with hundreds of digits
            raise self.error(key, f"is {_short(value)}, too large for a number") from None
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise self.error(key, f"must be finite, got {value}")
        if math.isfinite(value) and abs(value) > MAX_MAGNITUDE:
            raise self.error(key, f"is {value:g}, beyond {MAX_MAGNITUDE:g}: far larger than any quantity of a case "
                             "(a unit mistake or a typo?)")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum:g}, got {value:g}")
        if positive and not value > 0:
            raise self.error(key, f"must be positive, got {value:g}")
        return value

    def integer(
        self, key: str, default: Any = MISSING, *, minimum: int | None = None, maximum: int = MAX_INTEGER
    ) -> Any:
        if not self._given(key, default):
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {_short(value)}")
        if value > maximum or value < -MAX_INTEGER - 1:
            raise self.error(key, f"must be at most {maximum}, got {_short(value)}")
        return int(value)

    def string(self, key: str, default: Any = MISSING, *, choices: tuple[str, ...] | None = None) -> Any:
        if not self._given(key, default):
            return default
        value = self.data[key]
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value

    def boolean(self, key: str, default: Any = MISSING) -> Any:
        if not self._given(key, default):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {_kind(value)}")
        return value

    def array(self, key: str, default: Any = MISSING) -> Any:
        if not self._given(key, default):
            return default
        value = self.data[key]
        if not isinstance(value, list):
            raise self.error(key, f"must be an array, got {_kind(value)}")
        return value

    def record(self, key: str, default: Any = MISSING) -> Any:
        """The sub-object ``key`` as a record of the same entity."""
        if not self._given(key, default):
            return default
        value = self.data[key]
        return Record(self.file, self.entity, value, f"{self.prefix}{key}.")

    def records(self, key: str, entity_of: Any, default: Any = MISSING) -> list[Record]:
        """The array ``key`` of objects; ``entity_of(i, item)`` names item ``i``."""
        if not self._given(key, default):
            return default
        items = self.array(key)
        return [Record(self.file, entity_of(i, item), item) for i, item in enumerate(items)]

    # -- refusing what caudal does not model -------------------------------------
    def refuse_if_present(self, key: str, feature: str) -> None:
        """Refuse a feature switched on by the mere presence (non-null) of ``key``."""
        self._seen.add(key)
        if self.data.get(key) is not None:
            raise self.refuse(key, feature)

    def finish(self) -> None:
        """Refuse any key that no accessor read: caudal does not know what it means."""
        for key in self.data:
            if key not in self._seen:
                raise self.refuse(key, f"the field {self.prefix}{key!r}")


def entity_name(kind: str) -> Any:
    """A namer for array items: ``"hydro 3"`` from the item's ``id``, else its position."""

    def name(index: int, item: Any) -> str:
        if isinstance(item, dict) and isinstance(item.get("id"), int) and not isinstance(item.get("id"), bool):
            return f"{kind} {item['id']}"
        return f"{kind} #{index}"

    return name


def _short(value: int) -> str:
    """An integer as text, its digits elided when there are hundreds of them."""
    digits = len(str(abs(value))) if abs(value) < 10**4000 else 4000
    return str(value) if digits <= 30 else f"a {digits}-digit integer"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the number {_short(value)}"
    if isinstance(value, float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
