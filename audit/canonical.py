"""Canonical serialisation of audit records, and the hash chain over it.

A record's hash must come out identical on any machine, database and Python
version years from now, so the serialisation is deliberately boring: JSON with
sorted keys, no whitespace, ASCII only, and every float written as
``float.hex()`` — the exact IEEE-754 bits, immune to how a database or JSON
library would round or re-print a decimal (PostgreSQL's jsonb, for instance,
turns ``-0.0`` into ``0``). Decimals are written as their exact string and
datetimes as ISO-8601 in UTC with microseconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

# ``previous_hash`` of the first record of a chain.
GENESIS_HASH = "0" * 64


def canonical_value(value: Any) -> Any:
    """``value`` as plain JSON types, floats as hex strings."""
    kind = value.__class__
    # The common exact types first (the same answers as the general checks below, sooner).
    if kind is str or value is None or kind is bool:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"cannot record a non-finite number ({value!r})")
        return value.hex()
    if kind is int:
        return value
    if kind is Decimal:
        if not value.is_finite():
            raise ValueError(f"cannot record a non-finite number ({value!r})")
        return str(value)
    if kind is dict:
        return {str(key): canonical_value(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [canonical_value(item) for item in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):  # also numpy.float64
        if not math.isfinite(value):
            raise ValueError(f"cannot record a non-finite number ({value!r})")
        return float(value).hex()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot record a non-finite number ({value!r})")
        return str(value)
    if isinstance(value, dt.datetime):
        return utc_iso(value)
    if isinstance(value, Mapping):
        return {str(key): canonical_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_value(item) for item in value]
    if hasattr(value, "item"):  # numpy scalar of another kind
        return canonical_value(value.item())
    raise TypeError(f"cannot record a {type(value).__name__} in the audit trail")


def utc_iso(moment: dt.datetime) -> str:
    if moment.tzinfo is dt.UTC:  # as the database hands them back: skip the conversion
        return moment.isoformat(timespec="microseconds")
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def dumps(document: Mapping[str, Any]) -> str:
    """The canonical text of an already canonical document."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def record_hash(payload: str) -> str:
    """SHA-256 of the canonical payload (which itself holds ``previous_hash``)."""
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


def decode_float(text: str | None) -> float | None:
    return None if text is None else float.fromhex(text)


def decode_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """Stored feature vector back to what the model was fed (hex -> float, bit-exact).

    Hot path of replay (once per record): numbers are recognised by their
    leading ``0x`` / ``-0x``, which no categorical value in the schema has.
    """
    fromhex = float.fromhex
    return {
        name: fromhex(value) if value.__class__ is str and (value[:2] == "0x" or value[:3] == "-0x") else value
        for name, value in features.items()
    }
