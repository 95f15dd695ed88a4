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
import re
from collections.abc import Iterable, Mapping
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


# Text that canonical JSON writes as it is, between quotes (no escaping): plain references, usernames, codes.
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9 _.:/-]*")


def json_text(value: str) -> str:
    """``value`` as canonical JSON writes a text (ASCII, quoted); plain text needs no escaping."""
    if _PLAIN_TEXT.fullmatch(value):
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=True)


# A dict's canonical format (sorted keys, one ``%s`` per value) and its keys in that order, by its keys' order.
_DICT_FORMATS: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {}
_MOST_DICT_FORMATS = 256


def value_text(value: Any) -> str:
    """``dumps(canonical_value(value))`` for any value, without building the canonical copy.

    The exact types a decision document holds (text, float, int, Decimal,
    None, bool, dicts with text keys, lists) are written directly, each as
    the JSON encoder writes the canonical value; anything else goes through
    ``canonical_value`` and ``dumps``. ``tests/audit/test_canonical_text.py``
    compares both on real documents and on edge values.
    """
    kind = value.__class__
    if kind is str:
        return json_text(value)
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"cannot record a non-finite number ({value!r})")
        return f'"{value.hex()}"'
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is Decimal:
        if not value.is_finite():
            raise ValueError(f"cannot record a non-finite number ({value!r})")
        return json_text(str(value))
    if kind is dict:
        shape = _DICT_FORMATS.get(tuple(value))
        if shape is None:
            shape = _dict_format(value)
            if shape is None:
                return dumps(canonical_value(value))
        text, keys = shape
        return text % tuple([_item_text(value[key]) for key in keys])
    if kind is list or kind is tuple:
        return "[" + ",".join([_item_text(item) for item in value]) + "]"
    return dumps(canonical_value(value))


_plain_text = _PLAIN_TEXT.fullmatch
_isfinite = math.isfinite


def _item_text(value: Any) -> str:
    # A finite float and a plain text (most values of a document) without the general dispatch.
    kind = value.__class__
    if kind is float and _isfinite(value):
        return f'"{value.hex()}"'
    if kind is str and _plain_text(value):
        return f'"{value}"'
    return value_text(value)


def dict_texts(dicts: list[dict[str, Any]]) -> list[str]:
    """``value_text`` of each of ``dicts``, written column by column when they all have the same keys.

    For the many documents of a batch (each row's features, each row's
    inputs): one pass per key over every row, the common value types written
    inline, then one string format per row.
    """
    if not dicts:
        return []
    keys = tuple(dicts[0])
    shape = _DICT_FORMATS.get(keys) or _dict_format(dicts[0])
    if shape is None or any(tuple(item) != keys for item in dicts):
        return [value_text(item) for item in dicts]
    text, ordered = shape
    plain, isfinite = _plain_text, _isfinite
    columns = []
    for key in ordered:
        columns.append(
            [
                f'"{v.hex()}"'
                if v.__class__ is float and isfinite(v)
                else f'"{v}"'
                if v.__class__ is str and plain(v)
                else int.__repr__(v)
                if v.__class__ is int
                else value_text(v)
                for v in [item[key] for item in dicts]
            ]
        )
    return [text % row for row in zip(*columns)]


def _dict_format(value: dict) -> tuple[str, tuple[str, ...]] | None:
    keys = tuple(value)
    if any(key.__class__ is not str for key in keys):
        return None  # canonical_value turns keys into text; the general path does that
    ordered = tuple(sorted(keys))
    text = "{" + ",".join(json_text(key).replace("%", "%%") + ":%s" for key in ordered) + "}"
    if len(_DICT_FORMATS) >= _MOST_DICT_FORMATS:
        _DICT_FORMATS.clear()
    _DICT_FORMATS[keys] = (text, ordered)
    return text, ordered


def _marker(name: str) -> str:
    return f"@@{name}@@"


class CanonicalTemplate:
    """``dumps(document)`` with the values of some top-level keys left open; ``fill`` puts them in.

    For many documents that share most of their values (the decision records
    of one model, policy and officer): the shared part is serialised once and
    each document is a string format of its own values' canonical texts
    (``value_text``), exactly the text ``dumps`` gives for the whole document.
    """

    def __init__(self, document: Mapping[str, Any], variable: Iterable[str]) -> None:
        variable = tuple(variable)
        text = dumps({**document, **{name: _marker(name) for name in variable}}).replace("%", "%%")
        where = {}
        for name in variable:
            quoted = json.dumps(_marker(name))
            if text.count(quoted) != 1:  # a marker must stand for exactly one value
                raise ValueError(f"cannot template the document: {name!r} found {text.count(quoted)} times")
            where[name] = text.index(quoted)
            text = text.replace(quoted, "%s")
        self.names: tuple[str, ...] = tuple(sorted(variable, key=where.__getitem__))
        self.format = text

    def fill(self, texts: tuple[str, ...]) -> str:
        """The document's canonical text; ``texts`` are the open values' canonical texts, in ``names`` order."""
        return self.format % texts
