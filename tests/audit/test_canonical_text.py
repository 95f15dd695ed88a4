"""Canonical text without the canonical copy (``canonical.value_text``, ``CanonicalTemplate``) and the batch
path's decision records prepared as text (``prepare_decision_text``): byte for byte what ``canonical.dumps``
gives, on edge values and on every decision of a slice of the shared file."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from decimal import Decimal

import numpy as np
import pytest

from applications.forms import clean_application_rows
from applications.models import LoanApplication
from audit import canonical
from audit.services import prepare_decision_record, prepare_decision_text, prepare_decision_texts
from scoring.schema import INPUT_NAMES
from scoring.services import DecisionPolicy, score_application, score_applications
from tests.support.factories import UserFactory
from tests.support.scoring import require_shared_data

EDGE_VALUES = [
    "",
    "plain ref-1_2.3:4/5",
    'quote " and backslash \\',
    "percent %s %% %(x)s",
    "zoë — ü 😀",
    "control \x00 \x1f \n \t",
    0.0,
    -0.0,
    5e-324,
    1.7976931348623157e308,
    0.1,
    -123.456,
    0,
    -7,
    10**30,
    True,
    False,
    None,
    Decimal("12.50"),
    Decimal("-0.00"),
    Decimal("1E+3"),
    Decimal("0.000001"),
    np.float64(0.3),
    np.int64(42),
    np.float32(0.1),
    dt.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    [],
    {},
    (1, "a", None),
    [{"b": 1.5, "a": [Decimal("2.0"), {"z%": "%"}]}, -0.0],
    {"zeta": 1, "alpha": 2, "Mid": 3, "émoji": "😀", "%key": 0.5},
    {1: "int key", 2.5: "float key"},
    {"nested": {"k": (True, False)}},
]


@pytest.mark.parametrize("value", EDGE_VALUES, ids=range(len(EDGE_VALUES)))
def test_value_text_is_the_canonical_dump(value):
    assert canonical.value_text(value) == canonical.dumps(canonical.canonical_value(value))


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), Decimal("NaN"), [1, float("-inf")], {"a": Decimal("Inf")}]
)
def test_value_text_refuses_what_canonical_value_refuses(value):
    with pytest.raises(ValueError):
        canonical.canonical_value(value)
    with pytest.raises(ValueError):
        canonical.value_text(value)


def test_dicts_written_column_by_column_are_each_its_canonical_dump():
    same_keys = [{"b": value, "a": other} for value in EDGE_VALUES for other in (1, -0.0, "x y", None)]
    assert canonical.dict_texts(same_keys) == [canonical.dumps(canonical.canonical_value(d)) for d in same_keys]
    mixed = [{"a": 1}, {"b": 2.5}, {"a": 1, "b": Decimal("3.0")}, {}]
    assert canonical.dict_texts(mixed) == [canonical.dumps(canonical.canonical_value(d)) for d in mixed]
    with pytest.raises(ValueError):
        canonical.dict_texts([{"a": 1.0}, {"a": float("nan")}])


def test_a_template_filled_is_the_dump_of_the_whole_document():
    document = {"b": "shared %", "a": None, "d": [1, 2], "c": "open", "e": "open too"}
    template = canonical.CanonicalTemplate(document, ("e", "c"))
    assert template.names == ("c", "e")
    values = {"c": {"y": -0.0, "x": 'q"%'}, "e": [Decimal("1.10")]}
    filled = template.fill(tuple(canonical.value_text(values[name]) for name in template.names))
    assert filled == canonical.dumps(canonical.canonical_value({**document, **values}))


def test_a_template_refuses_a_value_it_cannot_place():
    with pytest.raises(ValueError, match="found 2 times"):
        canonical.CanonicalTemplate({"a": 1, "b": "@@a@@"}, ("a",))


def _filled(prepared, *, application_id, stamp, previous_hash, sequence) -> str:
    reference, decision, features, inputs, outside, probability, reasons, risk = prepared.texts
    return prepared.template.fill(
        (
            reference,
            canonical.value_text(application_id),
            canonical.json_text(stamp),
            decision,
            features,
            inputs,
            outside,
            canonical.json_text(previous_hash),
            probability,
            reasons,
            risk,
            canonical.value_text(sequence),
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["plain-officer", "zoë.o'brien%"])
def test_decisions_prepared_as_text_give_the_record_payload_over_the_shared_file(username):
    """2,000 rows of the shared file through the batch's validation and scoring, two policies."""
    officer = UserFactory(username=username)
    with require_shared_data().open(newline="") as handle:
        source = list(itertools.islice(csv.DictReader(handle), 2000))
    references = ["", "REF-1", 'odd "ref" 7% ü', "=x"]
    applications = []
    for number, (cleaned, errors) in enumerate(
        clean_application_rows([{n: r[n] for n in INPUT_NAMES} for r in source])
    ):
        if errors:
            continue
        applications.append(
            LoanApplication(
                applicant_reference=references[number % len(references)], **{n: cleaned[n] for n in INPUT_NAMES}
            )
        )
    assert len(applications) > 1500
    frame = {name: [a.model_inputs()[name] for a in applications] for name in INPUT_NAMES}
    stamp = canonical.utc_iso(dt.datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=dt.UTC))
    policy = DecisionPolicy(version="policy-test", approve_below=0.1, decline_from=0.6)
    compared = 0
    for arguments in ({}, {"policy": policy}):
        results = score_applications(frame, **arguments)
        assert results[0] == score_application(applications[0].model_inputs(), **arguments)
        chunk = prepare_decision_texts(items=list(zip(applications, results, strict=True)), officer=officer)
        for number, (application, result, in_chunk) in enumerate(zip(applications, results, chunk, strict=True)):
            links = {
                "application_id": 1000 + number,
                "created_at": stamp,
                "previous_hash": f"{number:064x}",
                "sequence": 5 + number,
            }
            document = {**prepare_decision_record(application=application, result=result, officer=officer).document}
            expected = canonical.dumps({**document, **links})
            prepared = prepare_decision_text(application=application, result=result, officer=officer)
            got = _filled(
                prepared,
                application_id=links["application_id"],
                stamp=stamp,
                previous_hash=links["previous_hash"],
                sequence=links["sequence"],
            )
            assert got == expected, number
            assert in_chunk == prepared, number
            compared += 1
    assert compared == 2 * len(applications)
    assert any(result.outside_experience for result in results)
