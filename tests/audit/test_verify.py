"""``verify_decisions``: tampering found and named; replay bit for bit; a swapped model refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from accounts import roles
from applications.models import LoanApplication
from audit import canonical
from audit.models import DecisionRecord
from audit.verification import verify_audit_trail
from tests.support.audit import drop_triggers, legacy_override, raw, run_verify, scored_application
from tests.support.factories import UserFactory
from tests.support.reviews import decide_by_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():
    officer = UserFactory(role=roles.OFFICER)
    for i in range(6):
        scored_application(officer, applicant_reference=f"V-{i}", loan_amnt=str(5000 + 1000 * i))
    return list(DecisionRecord.objects.order_by("sequence"))


def test_an_intact_trail_verifies_and_replays(chain):
    code, out, summary = run_verify("--replay")
    assert code == 0, out
    assert summary == {**summary, "checked": 6, "chain_ok": True, "first_bad_id": None, "replayed": 6, "mismatches": 0}


def test_empty_trail_verifies():
    code, _, summary = run_verify("--replay")
    assert code == 0 and summary["checked"] == 0 and summary["replayed"] == 0


def test_edited_probability_is_found_and_named(chain):
    victim = chain[3]
    drop_triggers()
    raw("UPDATE audit_decisionrecord SET probability_of_default = %s WHERE id = %s", (0.01, victim.pk))
    code, out, summary = run_verify()
    assert code != 0
    assert summary["chain_ok"] is False and summary["first_bad_id"] == victim.pk
    assert f"id={victim.pk}" in out and "probability_of_default" in out


def test_edited_payload_is_found_and_named(chain):
    victim = chain[2]
    drop_triggers()
    other = "DECLINE" if victim.decision != "DECLINE" else "APPROVE"
    forged = victim.payload.replace(f'"decision":"{victim.decision}"', f'"decision":"{other}"')
    assert forged != victim.payload
    raw("UPDATE audit_decisionrecord SET payload = %s, decision = %s WHERE id = %s", (forged, other, victim.pk))
    code, out, summary = run_verify()
    assert code != 0 and summary["first_bad_id"] == victim.pk
    assert "does not match its content" in out


def test_deleted_record_is_found_and_named(chain):
    drop_triggers()
    raw("DELETE FROM audit_decisionrecord WHERE id = %s", (chain[2].pk,))
    code, out, summary = run_verify()
    assert code != 0
    # The first record that no longer links is the one after the hole.
    assert summary["first_bad_id"] == chain[3].pk
    assert "#3..#3 are missing" in out


def test_deleted_last_record_is_found_by_the_chain_head(chain):
    drop_triggers()
    raw("DELETE FROM audit_decisionrecord WHERE id = %s", (chain[-1].pk,))
    code, out, summary = run_verify()
    assert code != 0 and summary["chain_ok"] is False
    assert "chain head says #6" in out


def _forge(record: DecisionRecord, **changes) -> tuple[str, str]:
    document = json.loads(record.payload)
    document.update(changes)
    payload = canonical.dumps(document)
    return payload, canonical.record_hash(payload)


def test_inserted_record_is_found_and_named(chain):
    """A forged record slipped in mid-chain, the later ones renumbered and relinked to it."""
    drop_triggers()
    original = chain[3]
    raw("UPDATE audit_decisionrecord SET sequence = sequence + 1000 WHERE sequence >= 4")
    raw("UPDATE audit_decisionrecord SET sequence = sequence - 999 WHERE sequence >= 1000")
    forged_decision = "DECLINE" if original.decision != "DECLINE" else "APPROVE"
    payload, digest = _forge(original, sequence=4, previous_hash=chain[2].record_hash, decision=forged_decision)
    # Relink the original #4 (now #5) to the forgery so the link columns look right.
    raw("UPDATE audit_decisionrecord SET previous_hash = %s WHERE id = %s", (digest, original.pk))
    raw(
        "INSERT INTO audit_decisionrecord (sequence, previous_hash, record_hash, payload, created_at, "
        "application_id, officer_id, probability_of_default, decision, approve_below, decline_from, "
        "model_version, model_sha256) SELECT 4, %s, %s, %s, created_at, application_id, officer_id, "
        "probability_of_default, %s, approve_below, decline_from, model_version, model_sha256 "
        "FROM audit_decisionrecord WHERE id = %s",
        (chain[2].record_hash, digest, payload, forged_decision, original.pk),
    )
    inserted = DecisionRecord.objects.get(sequence=4)
    assert inserted.pk not in {r.pk for r in chain}
    code, out, summary = run_verify()
    assert code != 0 and summary["chain_ok"] is False
    # The forgery itself is well formed; the break shows at the first record it displaced,
    # whose hashed content still names its true place in the chain.
    assert summary["first_bad_id"] == original.pk
    assert f"id={original.pk}" in out


def test_record_appended_behind_the_services_back_is_found(chain):
    """A well-formed record added at the end without the chain lock disagrees with the chain head."""
    last = chain[-1]
    payload, digest = _forge(last, sequence=7, previous_hash=last.record_hash, decision="APPROVE")
    raw(
        "INSERT INTO audit_decisionrecord (sequence, previous_hash, record_hash, payload, created_at, "
        "application_id, officer_id, probability_of_default, decision, approve_below, decline_from, "
        "model_version, model_sha256) SELECT 7, %s, %s, %s, created_at, application_id, officer_id, "
        "probability_of_default, 'APPROVE', approve_below, decline_from, model_version, model_sha256 "
        "FROM audit_decisionrecord WHERE id = %s",
        (last.record_hash, digest, payload, last.pk),
    )
    code, out, summary = run_verify()
    assert code != 0 and "chain head says #6" in out


def test_replay_finds_a_probability_one_bit_off_even_in_a_reforged_chain(chain):
    """Someone rewrites a probability by one ULP and re-hashes the whole chain: only replay sees it."""
    drop_triggers()
    victim = chain[2]
    nudged = float(np.nextafter(victim.probability_of_default, 1.0))
    previous = chain[1].record_hash
    for record in chain[2:]:
        changes = {"previous_hash": previous}
        if record.pk == victim.pk:
            changes["probability_of_default"] = nudged.hex()
        payload, digest = _forge(record, **changes)
        raw(
            "UPDATE audit_decisionrecord SET previous_hash = %s, record_hash = %s WHERE id = %s",
            (f"{record.pk:064d}", f"{record.pk:063d}z", record.pk),
        )
        raw(
            "UPDATE audit_decisionrecord SET payload = %s, previous_hash = %s, record_hash = %s, "
            "probability_of_default = %s WHERE id = %s",
            (payload, previous, digest, nudged if record.pk == victim.pk else record.probability_of_default, record.pk),
        )
        previous = digest
    raw("UPDATE audit_chainhead SET record_hash = %s WHERE name = 'decisions'", (previous,))
    # The working copy and the simulator's latest-decision index too, as a thorough forger would.
    for table in ("applications_loanapplication", "audit_latestdecision"):
        key = "id" if table.startswith("applications") else "application_id"
        raw(f"UPDATE {table} SET probability_of_default = %s WHERE {key} = %s", (nudged, victim.application_id))
    code, out, summary = run_verify()
    assert code == 0 and summary["chain_ok"] is True, out  # the forgery is a valid chain...
    code, out, summary = run_verify("--replay")
    assert code != 0 and summary["mismatches"] == 1  # ...but the model says otherwise
    assert str(victim.pk) in out


def test_override_chain_is_verified_too(chain):
    application = LoanApplication.objects.get(pk=chain[0].application_id)
    new = "APPROVE" if application.final_decision != "APPROVE" else "DECLINE"
    record = legacy_override(
        application, reviewer=UserFactory(role=roles.REVIEWER), to_decision=new, reason="Guarantor provided."
    )
    assert run_verify()[0] == 0
    drop_triggers()
    raw("UPDATE audit_overriderecord SET reason = 'nothing to see' WHERE id = %s", (record.pk,))
    code, out, summary = run_verify()
    assert code != 0 and summary["overrides_chain_ok"] is False and summary["first_bad_override_id"] == record.pk
    assert summary["chain_ok"] is True


# --- Model artifacts ------------------------------------------------------------


@pytest.fixture
def store_chain(private_store):
    officer = UserFactory(role=roles.OFFICER)
    for i in range(3):
        scored_application(officer, applicant_reference=f"S-{i}")
    return private_store


def _swap_artifact(store, replacement: bytes | None = None) -> str:
    from scoring.model_cache import forget_loaded_models

    version = (store / "ACTIVE").read_text().strip()
    artifact = store / version / "model.joblib"
    if replacement is None:
        import joblib

        other = store / "other.joblib"
        joblib.dump({"not": "the model"}, other)
        replacement = other.read_bytes()
    artifact.write_bytes(replacement)
    forget_loaded_models()
    return version


def test_swapped_artifact_is_refused_on_load_and_reported_by_replay(store_chain):
    from scoring.exceptions import ModelUnavailable
    from scoring.model_cache import get_model

    version = _swap_artifact(store_chain)
    with pytest.raises(ModelUnavailable, match="does not match its manifest"):
        get_model(version)
    code, out, summary = run_verify()  # the chain itself is fine
    assert code == 0
    code, out, summary = run_verify("--replay")
    assert code != 0
    assert summary["replayed"] == 0 and version in summary["model_errors"]
    assert "does not match its manifest" in out


def test_missing_model_is_reported_by_replay(store_chain):
    version = (store_chain / "ACTIVE").read_text().strip()
    shutil.rmtree(store_chain / version)
    from scoring.model_cache import forget_loaded_models

    forget_loaded_models()
    code, out, summary = run_verify("--replay")
    assert code != 0 and version in summary["model_errors"]


def test_artifact_and_manifest_swapped_together_are_reported(store_chain):
    """A self-consistent replacement model still differs from the SHA-256 the decisions recorded."""
    from scoring.store import sha256_of_file

    version = (store_chain / "ACTIVE").read_text().strip()
    artifact = store_chain / version / "model.joblib"
    with open(artifact, "ab") as handle:  # joblib ignores trailing bytes? not needed: we only change the hash
        handle.write(b"\0")
    manifest_path = store_chain / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["artifact_sha256"] = sha256_of_file(artifact)
    manifest_path.write_text(json.dumps(manifest))
    from scoring.model_cache import forget_loaded_models

    forget_loaded_models()
    summary = verify_audit_trail(replay=True)
    assert not summary.ok
    assert version in summary.model_errors
    assert (
        "not the one the decisions recorded" in summary.model_errors[version]
        or "cannot" in summary.model_errors[version]
    )


def test_summary_json_is_the_last_line(chain):
    code, out, summary = run_verify()
    last = out.strip().splitlines()[-1]
    assert set(json.loads(last)) >= {"checked", "chain_ok", "first_bad_id", "replayed", "mismatches"}


# --- The workbench's copy of the outcome must agree with the audit records ---------


@pytest.mark.parametrize(
    "column, value",
    [
        ("probability_of_default", 0.001),
        ("decision", "APPROVE"),
        ("final_decision", "DECLINE"),
        ("model_version", "v-forged"),
    ],
)
def test_application_outcome_edited_behind_the_trail_is_found(chain, column, value):
    application = LoanApplication.objects.get(pk=chain[4].application_id)
    if getattr(application, column) == value:
        value = "REVIEW"
    raw(f"UPDATE applications_loanapplication SET {column} = %s WHERE id = %s", (value, application.pk))
    code, out, summary = run_verify()
    assert code != 0 and summary["application_mismatches"] == 1
    assert summary["chain_ok"] is True  # the trail itself is intact; the shown outcome is not
    assert f"application id={application.pk}" in out


@pytest.mark.parametrize("how", ["legacy override", "case decision"])
def test_overridden_application_agrees_with_its_override(chain, how):
    application = LoanApplication.objects.get(pk=chain[0].application_id)
    new = "APPROVE" if application.final_decision != "APPROVE" else "DECLINE"
    if how == "legacy override":
        legacy_override(application, reviewer=UserFactory(role=roles.REVIEWER), to_decision=new, reason="Seen.")
    else:
        decide_by_review(application, new)
    code, _, summary = run_verify()
    assert code == 0 and summary["applications_checked"] == 6
    raw("UPDATE applications_loanapplication SET final_decision = decision WHERE id = %s", (application.pk,))
    code, out, summary = run_verify()
    assert code != 0 and "final decision differs" in out
