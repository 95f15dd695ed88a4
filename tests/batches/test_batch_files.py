"""Batch files end to end with the queue running tasks synchronously: the upload page, the file's
checks, every row's outcome in the results CSV, decisions equal to ``score_application``, the chain valid."""

from __future__ import annotations

import csv
import html
import io
import itertools

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts import roles
from applications.forms import clean_application_data
from applications.models import LoanApplication
from applications.services import prepare_applications, store_prepared_applications
from audit import canonical
from audit.models import DecisionRecord
from batches import services
from batches.models import BatchChunk, BatchJob, BatchRow
from scoring.services import score_application
from tests.support.audit import run_verify
from tests.support.batches import COLUMNS, batch_csv, batch_row, varied_rows
from tests.support.factories import UserFactory, scored_application, scoring_inputs
from tests.support.scoring import require_shared_data

pytestmark = pytest.mark.django_db


def _upload(client, content: bytes, name: str = "file.csv", capture=None):
    with capture(execute=True):
        return client.post(reverse("batches:upload"), {"file": SimpleUploadedFile(name, content, "text/csv")})


def _results(client, job: BatchJob) -> list[dict[str, str]]:
    response = client.get(reverse("batches:results", args=[job.pk]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_a_file_is_scored_row_for_row_exactly_as_the_form_would(officer_client, django_capture_on_commit_callbacks):
    earlier = scored_application(officer_client.user, applicant_reference="ALREADY-STORED")
    good = varied_rows(12)
    # Outside the model's experience (loan 90,000% of income): REVIEW by the guard, as score_application says.
    good.insert(5, batch_row(loan_amnt="900000", person_income="1000", applicant_reference="GUARDED"))
    rows = list(good)
    rows.insert(3, batch_row(loan_amnt="-5", applicant_reference="BAD-AMOUNT"))
    rows.insert(6, batch_row(applicant_reference="=HYPERLINK(1)"))
    rows.insert(8, batch_row(person_age="30", person_emp_length="25", applicant_reference="TOO-LONG-JOB"))
    rows.insert(9, batch_row(loan_grade="Z", applicant_reference="x" * 150))
    # Possible duplicates, with nobody to confirm them: refused, naming the earlier application.
    rows.append(batch_row(loan_amnt="4321", applicant_reference="ALREADY-STORED"))
    rows.append(batch_row(loan_amnt="4322", applicant_reference="R2"))
    response = _upload(officer_client, batch_csv(rows), capture=django_capture_on_commit_callbacks)
    job = BatchJob.objects.get()
    assert response.status_code == 303 and response["Location"] == reverse("batches:detail", args=[job.pk])
    assert job.status == BatchJob.Status.DONE
    assert (job.total_rows, job.rows_done, job.rows_stored, job.rows_rejected) == (19, 19, 13, 6)

    results = _results(officer_client, job)
    assert [int(r["row_number"]) for r in results] == list(range(1, 20))
    by_number = {int(r["row_number"]): r for r in results}
    assert by_number[4]["outcome"] == "rejected" and by_number[4]["rejection_reason"].startswith("loan_amnt:")
    assert by_number[7]["rejection_reason"].startswith("applicant_reference: Starts like a spreadsheet formula")
    assert by_number[9]["rejection_reason"].startswith("person_emp_length: Employment of 25 years")
    assert by_number[10]["rejection_reason"].startswith("applicant_reference: Longer than 100 characters")
    assert by_number[18]["rejection_reason"] == (
        f"applicant_reference: The reference ALREADY-STORED is already used by application #{earlier.pk}; "
        "not stored (enter it on the form to confirm it is not a second entry)."
    )
    assert by_number[19]["rejection_reason"].startswith(
        "applicant_reference: The reference R2 is already used by an earlier row of this file; not stored"
    )
    stored = [r for r in results if r["outcome"] == "stored"]
    assert len(stored) == 13 == LoanApplication.objects.count() - 1 == DecisionRecord.objects.count() - 1
    for result, row in zip(stored, good, strict=True):
        application = LoanApplication.objects.get(pk=result["application_id"])
        expected = score_application(scoring_inputs(row))
        assert application.applicant_reference == result["applicant_reference"] == row["applicant_reference"]
        assert application.probability_of_default == expected.probability_of_default
        assert float(result["probability_of_default"]) == expected.probability_of_default
        assert application.decision == result["decision"] == expected.decision
        assert application.reasons == [reason.as_dict() for reason in expected.reasons]
        record = DecisionRecord.objects.get(application=application)
        assert int(result["decision_record_id"]) == record.pk
        # The guard's mark, column and document, exactly as the single path records it.
        assert record.outside_experience is bool(expected.outside_experience)
        assert record.document["outside_experience"] == canonical.canonical_value(
            [e.as_dict() for e in expected.outside_experience]
        )
        assert record.document["experience_sha256"] == expected.experience_sha256
        assert record.document["policy_version"] == expected.policy_version
        assert application.officer == officer_client.user
    guarded = LoanApplication.objects.get(applicant_reference="GUARDED")
    assert guarded.decision == "REVIEW" and DecisionRecord.objects.get(application=guarded).outside_experience
    code, _, summary = run_verify("--replay")
    assert code == 0, summary


def test_a_chunk_run_twice_stores_nothing_twice(officer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.create_batch_job(officer=officer, file=io.BytesIO(batch_csv(varied_rows(5))), file_name="f.csv")
    job.refresh_from_db()
    assert job.status == BatchJob.Status.DONE
    # A redelivered task (its worker was killed after the commit) finds the chunk done.
    assert services.process_chunk(job_id=job.pk, number=0) == 0
    # And were the chunk's mark lost, the database itself refuses a second copy of a row.
    row = BatchRow.objects.filter(job=job).order_by("row_number").first()
    with pytest.raises(IntegrityError), transaction.atomic():
        BatchRow.objects.create(job=job, row_number=row.row_number, rejection="again")
    cleaned, errors = clean_application_data(varied_rows(1)[0])
    # Prepared again, its reference is refused first (a possible duplicate, #15) ...
    (refused,) = prepare_applications(officer=officer, rows=[(row.application.idempotency_key, cleaned)])
    assert "The reference R1 is already used by application" in refused.message_dict["applicant_reference"][0]
    # ... and without a reference, the unique idempotency key refuses the second copy.
    again = prepare_applications(
        officer=officer, rows=[(row.application.idempotency_key, {**cleaned, "applicant_reference": ""})]
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        store_prepared_applications(prepared=again)
    assert LoanApplication.objects.count() == 5 and BatchRow.objects.count() == 5


def _analysed_tables(queries) -> list[str]:
    return [q["sql"].split()[1].strip('"') for q in queries if q["sql"].upper().startswith("ANALYZE")]


def test_the_job_that_finishes_refreshes_the_planner_statistics_of_what_it_wrote(
    officer, django_capture_on_commit_callbacks
):
    """PostgreSQL here runs without autovacuum: without ANALYZE at the end of a job, the next verify_decisions
    planned for empty tables (a per-application backward scan that did not finish after a large batch)."""
    written = {"applications_loanapplication", "audit_decisionrecord", "audit_latestdecision", "batches_batchrow"}
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        job = services.create_batch_job(officer=officer, file=io.BytesIO(batch_csv(varied_rows(30))), file_name="f.csv")
    job.refresh_from_db()
    assert job.status == BatchJob.Status.DONE and job.rows_stored == 30
    analysed = _analysed_tables(queries.captured_queries)
    if connection.vendor != "postgresql":
        assert analysed == []  # SQLite: nothing gathered, nothing to refresh
        return
    assert written <= set(analysed) and len(analysed) == len(set(analysed))
    # Once, after the last row was written: the statistics cover the job's whole output.
    statements = [q["sql"].upper() for q in queries.captured_queries]
    first_analyse = min(i for i, sql in enumerate(statements) if sql.startswith("ANALYZE"))
    last_write = max(
        i for i, sql in enumerate(statements) if sql.startswith("INSERT") and any(t.upper() in sql for t in written)
    )
    assert first_analyse > last_write
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'applications_loanapplication'")
        assert cursor.fetchone()[0] == 30  # the planner now knows the table's rows


def test_a_redelivered_chunk_of_a_finished_job_does_not_analyse_again(officer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.create_batch_job(officer=officer, file=io.BytesIO(batch_csv(varied_rows(3))), file_name="f.csv")
    with CaptureQueriesContext(connection) as queries:
        assert services.process_chunk(job_id=job.pk, number=0) == 0
    assert _analysed_tables(queries.captured_queries) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xef\xbb\xbf", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not UTF-8 text"),
        (b"person_age;person_income\n1;2\n", "Unknown column"),
        (batch_csv([batch_row()], columns=COLUMNS[:-2]), "Missing column(s): cb_person_cred_hist_length."),
        (batch_csv([batch_row()], columns=[*COLUMNS, "salary"]), "Unknown column(s) 'salary'"),
        (batch_csv([batch_row()]).decode().encode("utf-16"), "not UTF-8 text"),
        (batch_csv([batch_row()]) + b'31,"unterminated\n', "not valid CSV"),
        (batch_csv([batch_row()]) + b"1," + b"9" * 70_000 + b"\n", "not valid CSV"),
    ],
)
def test_a_file_that_is_not_ours_is_refused_whole_and_nothing_is_stored(
    officer_client, content, reason, django_capture_on_commit_callbacks
):
    response = _upload(officer_client, content, capture=django_capture_on_commit_callbacks)
    job = BatchJob.objects.get()
    assert response.status_code == 303
    assert job.status == BatchJob.Status.REFUSED and reason in job.refusal
    assert not BatchChunk.objects.exists() and not LoanApplication.objects.exists()
    page = html.unescape(officer_client.get(reverse("batches:detail", args=[job.pk])).content.decode())
    assert reason in page and "Nothing was stored" in page


def test_an_empty_upload_gets_a_message_beside_the_field(officer_client, django_capture_on_commit_callbacks):
    response = _upload(officer_client, b"", capture=django_capture_on_commit_callbacks)
    assert response.status_code == 400 and "The submitted file is empty." in response.content.decode()
    assert not BatchJob.objects.exists()


def test_over_the_row_limit_is_refused_after_chunks_were_staged(officer, django_capture_on_commit_callbacks):
    content = batch_csv(varied_rows(2500))
    with django_capture_on_commit_callbacks(execute=True):
        job = services.create_batch_job(officer=officer, file=io.BytesIO(content), file_name="big.csv", max_rows=2400)
    assert job.status == BatchJob.Status.REFUSED and "more than 2,400 rows" in job.refusal
    assert not BatchChunk.objects.exists() and not LoanApplication.objects.exists()


def test_a_nul_byte_and_a_short_row_are_rejected_alone(officer_client, django_capture_on_commit_callbacks):
    content = batch_csv([batch_row(applicant_reference="A\x00B"), batch_row(applicant_reference="OK")])
    content += b"31,52000\n"
    _upload(officer_client, content, capture=django_capture_on_commit_callbacks)
    results = _results(officer_client, BatchJob.objects.get())
    assert [r["outcome"] for r in results] == ["rejected", "stored", "rejected"]
    assert (
        results[0]["rejection_reason"]
        == "applicant_reference: Contains a NUL character (or U+FFFD, the replacement character)."
    )
    assert results[2]["rejection_reason"] == "row: Has 2 cells where the header names 11 columns."


def test_the_shared_dataset_columns_are_accepted(officer, django_capture_on_commit_callbacks):
    columns = [*COLUMNS[:-1], "loan_status", "loan_percent_income"]
    content = batch_csv([{**batch_row(), "loan_status": "1", "loan_percent_income": "0.23"}], columns=columns)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.create_batch_job(officer=officer, file=io.BytesIO(content), file_name="data.csv")
    job.refresh_from_db()
    assert (job.status, job.rows_stored) == (BatchJob.Status.DONE, 1)


def test_cancel_stops_the_chunks_not_yet_processed(officer, client, settings, django_capture_on_commit_callbacks):
    settings.BATCH_CHUNK_ROWS = 1000
    # Queued but not run: the on-commit enqueue is captured and not executed.
    with django_capture_on_commit_callbacks(execute=False):
        job = services.create_batch_job(
            officer=officer, file=io.BytesIO(batch_csv(varied_rows(2500))), file_name="f.csv"
        )
    assert job.status == BatchJob.Status.QUEUED and job.chunk_count == 3
    assert services.process_chunk(job_id=job.pk, number=0) == 1000
    client.force_login(officer)
    response = client.post(reverse("batches:cancel", args=[job.pk]))
    assert response.status_code == 303
    job.refresh_from_db()
    assert job.status == BatchJob.Status.CANCELLED and job.cancelled_by == officer
    assert services.process_chunk(job_id=job.pk, number=1) == 0
    results = _results(client, job)
    assert len(results) == 2500
    assert {r["outcome"] for r in results[:1000]} == {"stored"}
    assert {r["outcome"] for r in results[1000:]} == {"not processed (cancelled)"}
    assert LoanApplication.objects.count() == 1000


def test_progress_and_roles(client_for, officer, settings, django_capture_on_commit_callbacks):
    settings.BATCH_CHUNK_ROWS = 1000
    with django_capture_on_commit_callbacks(execute=False):
        job = services.create_batch_job(
            officer=officer, file=io.BytesIO(batch_csv(varied_rows(1500))), file_name="f.csv"
        )
    services.process_chunk(job_id=job.pk, number=0)
    owner = client_for(None)
    owner.force_login(officer)
    progress = owner.get(reverse("batches:progress", args=[job.pk])).json()
    assert progress["rows_done"] == 1000 and progress["total_rows"] == 1500 and progress["status"] == "RUNNING"
    assert progress["rows_per_second"] > 0 and progress["seconds_left"] >= 0
    page = owner.get(reverse("batches:detail", args=[job.pk])).content.decode()
    assert "batch-progress.js" in page and "<script>" not in page and "Cancel the rest" in page
    # Another officer: 404 (as for a missing id); an auditor sees it but cannot cancel or upload.
    assert client_for(roles.OFFICER).get(reverse("batches:detail", args=[job.pk])).status_code == 404
    auditor = client_for(roles.AUDITOR)
    assert auditor.get(reverse("batches:progress", args=[job.pk])).status_code == 200
    assert auditor.post(reverse("batches:cancel", args=[job.pk])).status_code == 403
    assert auditor.get(reverse("batches:upload")).status_code == 403
    other = UserFactory(role=roles.OFFICER)
    with pytest.raises(Exception, match="cancel"):
        services.cancel_batch_job(job=job, user=other)


def test_a_chunk_waits_for_a_database_that_went_away_and_then_resumes(
    officer, monkeypatch, django_capture_on_commit_callbacks
):
    from django.db import OperationalError

    from batches import tasks

    with django_capture_on_commit_callbacks(execute=False):
        job = services.create_batch_job(officer=officer, file=io.BytesIO(batch_csv(varied_rows(3))), file_name="f.csv")
    real = services.process_chunk
    outages = iter([OperationalError("server closed the connection unexpectedly")] * 2)

    def flaky(**kwargs):
        error = next(outages, None)
        if error is not None:
            raise error
        return real(**kwargs)

    pauses = []
    monkeypatch.setattr(tasks, "process_chunk", flaky)
    monkeypatch.setattr(tasks.time, "sleep", pauses.append)
    # The test's own connection holds the test's transaction: keep it (a real outage has broken it anyway).
    monkeypatch.setattr(tasks, "_drop_connections", lambda: None)
    assert tasks.run_chunk(job.pk, 0) == 3
    assert pauses == [0.5, 1.0]  # paused twice, growing, then resumed
    job.refresh_from_db()
    assert job.status == BatchJob.Status.DONE and job.rows_stored == 3
    assert LoanApplication.objects.count() == 3


def test_rows_of_the_shared_file_in_many_chunks_are_stored_exactly_as_one_at_a_time(
    officer, settings, django_capture_on_commit_callbacks
):
    """Columnar validation and matrix scoring over several chunks: each row's outcome, rejection text,
    stored values and decision record are what the form and ``score_application`` give for it alone."""
    settings.BATCH_CHUNK_ROWS = 7
    path = require_shared_data()
    with path.open(newline="") as handle:
        source = list(itertools.islice(csv.DictReader(handle), 60))
    columns = [*COLUMNS[:-1], "loan_status", "loan_percent_income"]
    content = batch_csv(source, columns=columns)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.create_batch_job(officer=officer, file=io.BytesIO(content), file_name="shared.csv")
    job.refresh_from_db()
    assert (job.status, job.chunk_count, job.rows_done) == (BatchJob.Status.DONE, 9, 60)
    outcomes = {row.row_number: row for row in BatchRow.objects.filter(job=job).select_related("application")}
    assert sorted(outcomes) == list(range(1, 61))
    refused = 0
    for number, row in enumerate(source, start=1):
        values = {name: row[name] for name in COLUMNS[:-1]}
        cleaned, errors = clean_application_data(values)
        outcome = outcomes[number]
        if errors:
            refused += 1
            assert outcome.application is None
            assert outcome.rejection == "; ".join(f"{field}: {' '.join(m)}" for field, m in errors.items())
            continue
        expected = score_application(scoring_inputs(values))
        application = outcome.application
        assert outcome.rejection == "" and application.idempotency_key == f"batch{job.pk}-row{number}"
        assert application.probability_of_default.hex() == expected.probability_of_default.hex()
        assert (application.decision, application.risk_label) == (expected.decision, expected.risk_label)
        assert application.reasons == [reason.as_dict() for reason in expected.reasons]
        assert application.loan_percent_income == expected.loan_percent_income
        assert application.interest_burden == expected.interest_burden
        document = DecisionRecord.objects.get(application=application).document
        assert document["features"] == canonical.canonical_value(dict(expected.features))
        assert document["inputs"] == canonical.canonical_value({name: cleaned[name] for name in COLUMNS[:-1]})
        assert document["probability_of_default"] == expected.probability_of_default.hex()
    assert 0 < refused < 60 and job.rows_rejected == refused
    code, _, summary = run_verify("--replay")
    assert code == 0, summary
