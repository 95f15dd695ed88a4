"""Chained records in bulk (``audit.bulk``, used by ``seed_demo``): the same payloads, links and hashes as one by one."""

from __future__ import annotations

import datetime as dt

import pytest

from applications.forms import clean_application_data
from applications.models import LoanApplication
from audit import canonical
from audit.bulk import BulkDecision, DecisionTemplate, append_decision_records_in_bulk, json_text
from audit.models import ChainHead, DecisionRecord
from audit.services import prepare_decision_record
from scoring.schema import INPUT_NAMES
from scoring.services import score_application
from tests.support.audit import run_verify
from tests.support.factories import UserFactory, application_form_data, scored_application

pytestmark = pytest.mark.django_db


def _prepared(officer, **fields):
    cleaned, errors = clean_application_data(application_form_data(**fields))
    assert errors == {}
    application = LoanApplication(**{name: cleaned[name] for name in INPUT_NAMES})
    result = score_application(application.model_inputs())
    return application, result, prepare_decision_record(application=application, result=result, officer=officer)


def test_template_payload_is_the_canonical_dump_of_the_full_document():
    officer = UserFactory(username="zoë.o'brien")
    _, _, prepared = _prepared(officer)
    moment = dt.datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=dt.UTC)
    reference = 'Ref "7%" — ü'
    document = {
        **prepared.document,
        "applicant_reference": reference,
        "application_id": 123456,
        "created_at": canonical.utc_iso(moment),
        "officer_id": officer.pk,
        "officer_username": officer.get_username(),
        "previous_hash": "ab" * 32,
        "sequence": 987654,
    }
    payload = DecisionTemplate(prepared).payload(
        applicant_reference=json_text(reference),
        application_id=123456,
        created_at=canonical.utc_iso(moment),
        officer_id=officer.pk,
        officer_username=json_text(officer.get_username()),
        previous_hash="ab" * 32,
        sequence=987654,
    )
    assert payload == canonical.dumps(document)


def test_bulk_records_continue_the_chain_and_verify_with_replay():
    officer = UserFactory()
    first = scored_application(officer=officer)  # one record appended the ordinary way
    application, result, prepared = _prepared(officer, loan_amnt=12000)
    template = DecisionTemplate(prepared)
    base = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    ids = []
    for _ in range(3):
        stored = LoanApplication.objects.create(
            officer=officer,
            **{name: getattr(application, name) for name in INPUT_NAMES},
            status=LoanApplication.Status.SCORED,
            probability_of_default=result.probability_of_default,
            decision=result.decision,
            final_decision=result.decision,
            risk_label=result.risk_label,
            model_version=result.model_version,
            model_sha256=result.model_sha256,
            loan_percent_income=result.loan_percent_income,
            interest_burden=result.interest_burden,
            scored_at=base,
            case_state="IN_QUEUE" if result.decision == "REVIEW" else "MODEL_FINAL",
            queued_at=base if result.decision == "REVIEW" else None,
        )
        ids.append(stored.pk)
    linked = append_decision_records_in_bulk(
        items=[
            BulkDecision(
                template=template,
                application_id=pk,
                officer_id=officer.pk,
                officer_username_json=json_text(officer.get_username()),
                applicant_reference_json=json_text(""),
                created_at=base + dt.timedelta(minutes=i),
            )
            for i, pk in enumerate(ids)
        ]
    )
    records = list(DecisionRecord.objects.order_by("sequence"))
    assert [r.sequence for r in records] == [1, 2, 3, 4]
    assert records[0].application_id == first.pk
    assert [r.previous_hash for r in records[1:]] == [r.record_hash for r in records[:-1]]
    assert [(r.id, r.sequence, r.record_hash) for r in records[1:]] == [tuple(vars(x).values()) for x in linked]
    assert records[1].probability_of_default == result.probability_of_default
    assert records[1].document["features"] == canonical.canonical_value(dict(result.features))
    head = ChainHead.objects.get(name=ChainHead.DECISIONS)
    assert (head.sequence, head.record_hash) == (4, records[-1].record_hash)
    later = scored_application(officer=officer)  # and the ordinary path goes on from the bulk records
    assert DecisionRecord.objects.get(application=later).previous_hash == records[-1].record_hash
    code, _, summary = run_verify("--replay")
    assert code == 0, summary
    assert (summary["checked"], summary["replayed"], summary["mismatches"]) == (5, 5, 0)
