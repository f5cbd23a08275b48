"""Metadata filters with the semantics of Vertex AI Vector Search restricts.

Each metadata key is a *namespace*. A string value, or each element of a list of strings, is
a *token* of that namespace; a number is a *numeric value*. Other values (booleans, null, lists
that hold anything but strings) have no tokens, as the Vector Search export writes none for
them. A :class:`Filter` keeps the rows that pass every clause:

- ``equals={"source": "camera"}``: the value is exactly this (any JSON scalar).
- ``allow={"tag": ["cat", "dog"]}``: the row holds at least one of these tokens in ``tag``
  (a row without ``tag`` fails, as in Vector Search).
- ``deny={"tag": ["blurry"]}``: the row holds none of these tokens (a row without ``tag`` passes).
- ``numeric=[("year", ">=", 2000)]``: numeric comparison; a row without a number there fails.

The same filter runs on the embedded index (:meth:`Filter.mask`) and on Vertex AI Vector Search
(:meth:`Filter.to_vector_search`), so a query keeps its meaning when the index scales out, with
one difference: Vector Search compares a number only with values of its own type (an integer
with integers, a float with floats), while the embedded index compares numbers by value. Where
a namespace holds floats, write float query values (``("price", ">", 10.0)``).
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidFilterError

__all__ = ["Filter", "NumericRestrict", "NUMERIC_OPS"]

# Vector Search's NumericRestriction operators, keyed by the symbols users type.
NUMERIC_OPS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "<": ("LESS", operator.lt),
    "<=": ("LESS_EQUAL", operator.le),
    "==": ("EQUAL", operator.eq),
    "!=": ("NOT_EQUAL", operator.ne),
    ">=": ("GREATER_EQUAL", operator.ge),
    ">": ("GREATER", operator.gt),
}
_OP_BY_NAME = {name: sym for sym, (name, _) in NUMERIC_OPS.items()}
_INT64 = 2**63  # Vector Search's value_int is an int64


@dataclass(frozen=True)
class NumericRestrict:
    """``namespace op value``, e.g. ``NumericRestrict("year", ">=", 2000)``. ``op`` also takes
    Vector Search's names (``GREATER_EQUAL``)."""

    namespace: str
    op: str
    value: int | float

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str):
            raise InvalidFilterError(f"numeric restrict: the namespace must be a string, got {self.namespace!r}",
                                     input_name="numeric")
        op = _OP_BY_NAME.get(self.op, self.op) if isinstance(self.op, str) else self.op
        if not isinstance(op, str) or op not in NUMERIC_OPS:
            raise InvalidFilterError(f"numeric restrict on {self.namespace!r}: unknown operator {self.op!r}; "
                                     f"use one of {', '.join(NUMERIC_OPS)}", input_name="numeric")
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (
                not -_INT64 <= v < _INT64 if isinstance(v, int) else not math.isfinite(v)):
            raise InvalidFilterError(f"numeric restrict on {self.namespace!r}: value must be a finite number "
                                     f"(an integer within int64), got {v!r}", input_name="numeric")
        object.__setattr__(self, "op", op)

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        v = metadata.get(self.namespace)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return False
        return NUMERIC_OPS[self.op][1](v, self.value)


def tokens_of(value: Any) -> frozenset[str]:
    """The restrict tokens a metadata value stands for: a string, or each element of a list of
    strings; nothing else has tokens (the exporter writes token restricts for exactly these)."""
    if isinstance(value, str):
        return frozenset((value,))
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return frozenset()


def _token_map(clauses: Mapping[str, Iterable[Any]] | None, what: str) -> dict[str, frozenset[str]]:
    if clauses is not None and not isinstance(clauses, Mapping):
        raise InvalidFilterError(f"{what} must be a dict of namespace -> tokens, got {type(clauses).__name__}",
                                 input_name=what)
    out: dict[str, frozenset[str]] = {}
    for ns, toks in (clauses or {}).items():
        if isinstance(toks, (str, bytes)):
            raise InvalidFilterError(f"{what}[{ns!r}] must be a list of tokens, not a single string: use [{toks!r}]",
                                     input_name=what)
        if not isinstance(toks, Iterable) or isinstance(toks, Mapping):
            raise InvalidFilterError(f"{what}[{ns!r}] must be a list of tokens, got {type(toks).__name__}",
                                     input_name=what)
        toks = list(toks)
        for t in toks:
            if not isinstance(t, str):  # 2020 or None matched "2020" / "None" here, and nothing on Vector Search
                hint = f"; compare a number with numeric=[({str(ns)!r}, '==', {t!r})]" if isinstance(t, (int, float)) \
                    and not isinstance(t, bool) else ""
                raise InvalidFilterError(f"{what}[{ns!r}]: tokens are strings, got {t!r}{hint}", input_name=what)
        out[str(ns)] = frozenset(toks)
    return out


@dataclass(frozen=True)
class Filter:
    """A conjunction of equality, allow, deny and numeric clauses over row metadata."""

    equals: Mapping[str, Any] = field(default_factory=dict)
    allow: Mapping[str, frozenset[str]] = field(default_factory=dict)
    deny: Mapping[str, frozenset[str]] = field(default_factory=dict)
    numeric: tuple[NumericRestrict, ...] = ()

    def __init__(
        self,
        equals: Mapping[str, Any] | None = None,
        *,
        allow: Mapping[str, Iterable[Any]] | None = None,
        deny: Mapping[str, Iterable[Any]] | None = None,
        numeric: Sequence[NumericRestrict | tuple[str, str, int | float]] = (),
    ) -> None:
        if equals is not None and not isinstance(equals, Mapping):
            raise InvalidFilterError(f"equals must be a dict, got {type(equals).__name__}", input_name="equals")
        # Stored metadata keys are strings (JSON): a key given as 1 is "1", as allow/deny take them.
        eq = {str(k): v for k, v in (equals or {}).items()}
        for k, v in eq.items():
            if not (v is None or isinstance(v, (str, int, float, bool))):
                raise InvalidFilterError(f"equals[{k!r}] must be a JSON scalar, got {type(v).__name__}",
                                         input_name="equals")
            if isinstance(v, float) and not math.isfinite(v):  # stored metadata holds no NaN or inf
                raise InvalidFilterError(f"equals[{k!r}] must be a finite number, got {v!r}", input_name="equals")
        object.__setattr__(self, "equals", eq)
        object.__setattr__(self, "allow", _token_map(allow, "allow"))
        object.__setattr__(self, "deny", _token_map(deny, "deny"))
        if isinstance(numeric, (str, bytes, Mapping)) or not isinstance(numeric, Iterable):
            raise InvalidFilterError(f"numeric must be a list of (namespace, operator, value), got {numeric!r}",
                                     input_name="numeric")
        object.__setattr__(self, "numeric", tuple(_numeric(n) for n in numeric))

    @classmethod
    def coerce(cls, value: "Filter | Mapping[str, Any] | None") -> "Filter | None":
        """``None`` stays ``None``; a plain dict means ``equals``."""
        if value is None or isinstance(value, Filter):
            return value
        if isinstance(value, Mapping):
            return cls(equals=value)
        raise InvalidFilterError(f"filter must be a Filter or a dict of equalities, got {type(value).__name__}",
                                 input_name="filter")

    @property
    def empty(self) -> bool:
        return not (self.equals or self.allow or self.deny or self.numeric)

    def key(self) -> str:
        """A canonical string, equal for equal filters (used to cache row masks)."""
        return json.dumps(
            {
                "equals": self.equals,
                "allow": {k: sorted(v) for k, v in self.allow.items()},
                "deny": {k: sorted(v) for k, v in self.deny.items()},
                "numeric": [[n.namespace, n.op, n.value] for n in self.numeric],
            },
            sort_keys=True,
            default=str,
        )

    def __hash__(self) -> int:
        return hash(self.key())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and self.key() == other.key()

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """Whether one row's metadata passes every clause."""
        _missing = object()
        for k, v in self.equals.items():
            got = metadata.get(k, _missing)
            # True is not 1 here, either way round (Python's == says it is).
            if got is _missing or (type(got) is bool) != (type(v) is bool) or got != v:
                return False
        for ns, allowed in self.allow.items():
            if allowed.isdisjoint(tokens_of(metadata.get(ns))):
                return False
        for ns, denied in self.deny.items():
            if not denied.isdisjoint(tokens_of(metadata.get(ns))):
                return False
        return all(n.matches(metadata) for n in self.numeric)

    def mask(self, metadatas: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """A boolean row mask over ``metadatas``."""
        return np.fromiter((self.matches(m) for m in metadatas), dtype=bool, count=len(metadatas))

    def to_vector_search(self) -> tuple[list[Any], list[Any]]:
        """The same filter for ``MatchingEngineIndexEndpoint.find_neighbors(filter=...,
        numeric_filter=...)``: ``(namespaces, numeric_namespaces)``.

        String equalities become single-token allow lists; numeric equalities become ``EQUAL``
        numeric restricts. Boolean or null equalities have no Vector Search form and raise.
        """
        from google.cloud.aiplatform.matching_engine.matching_engine_index_endpoint import (
            Namespace,
            NumericNamespace,
        )

        allow = {k: set(v) for k, v in self.allow.items()}
        numeric = list(self.numeric)
        for k, v in self.equals.items():
            if isinstance(v, str):
                allow[k] = allow[k] & {v} if k in allow else {v}
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                numeric.append(NumericRestrict(k, "==", v))
            else:
                raise InvalidFilterError(f"equals[{k!r}]={v!r} has no Vector Search restrict form (tokens are strings)",
                                         input_name="equals")
        names = sorted(set(allow) | set(self.deny))
        namespaces = [Namespace(ns, sorted(allow.get(ns, ())), sorted(self.deny.get(ns, ()))) for ns in names]
        numeric_ns = [_numeric_namespace(NumericNamespace, n) for n in numeric]
        return namespaces, numeric_ns

    def __repr__(self) -> str:
        parts = []
        if self.equals:
            parts.append(f"equals={self.equals!r}")
        for name in ("allow", "deny"):
            clauses = getattr(self, name)
            if clauses:
                parts.append(f"{name}={ {k: sorted(v) for k, v in clauses.items()} !r}")
        if self.numeric:
            parts.append("numeric=" + repr([(n.namespace, n.op, n.value) for n in self.numeric]))
        return f"Filter({', '.join(parts)})"


def _numeric(n: Any) -> NumericRestrict:
    if isinstance(n, NumericRestrict):
        return n
    if isinstance(n, (str, bytes, Mapping)) or not isinstance(n, Sequence) or len(n) != 3:
        raise InvalidFilterError(f"a numeric restrict is (namespace, operator, value), got {n!r}", input_name="numeric")
    return NumericRestrict(*n)


def _numeric_namespace(cls: Any, n: NumericRestrict) -> Any:
    op = NUMERIC_OPS[n.op][0]
    if isinstance(n.value, int):
        return cls(name=n.namespace, value_int=n.value, op=op)
    # Floats go as 64-bit doubles, the same type the exporters write for datapoints: Vector
    # Search compares a query value only with datapoint values of its own type.
    return cls(name=n.namespace, value_double=float(n.value), op=op)
