"""The load/fault benchmarks' own logic, checked without servers or wrk.

The scripts themselves (bench/load_submit.py, bench/load_faults.py) start
gunicorn and drive wrk; here only the parts that decide pass or fail are
tested: reading wrk's report and reconciling acknowledgements against rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import load_common  # noqa: E402

from tests.support.factories import application_form_data, submit_form  # noqa: E402

WRK_REPORT = """Running 15s test @ http://127.0.0.1:5000/predict
  1 threads and 16 connections
  Latency Distribution
     50%  142.10ms
     75%  150.00ms
     90%  160.00ms
     99%    1.20s
  1650 requests in 15.02s, 3.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    109.85
Transfer/sec:    211.00KB
"""


def test_wrk_text_report_is_read():
    result = load_common.parse_wrk_text(WRK_REPORT)
    assert result["requests_per_s"] == pytest.approx(109.85)
    assert result["p50_ms"] == pytest.approx(142.10)
    assert result["p99_ms"] == pytest.approx(1200.0)
    assert result["requests"] == 1650
    assert result["errors"] == 4 + 3


def test_submit_form_fields_are_the_forms_fields():
    from applications.forms import LoanApplicationForm

    # The duplicate confirmation is posted only after a warning, which the benches never get (unique amounts).
    assert set(load_common.FORM) | {"applicant_reference", "confirm_duplicate_of"} == set(
        LoanApplicationForm.base_fields
    )
    assert len({load_common.unique_amount(n) for n in range(100_000)}) == 100_000


@pytest.mark.django_db
def test_reconcile_counts_lost_unacknowledged_and_retried(officer, tmp_path):
    stored = [
        submit_form(
            officer=officer,
            data=application_form_data(applicant_reference=f"smk-0-{n}"),
            idempotency_key=f"smoketoken{n:04d}",
        )
        for n in range(3)
    ]
    # The same form again (same token): the first application comes back, no second row.
    again = submit_form(
        officer=officer, data=application_form_data(applicant_reference="smk-0-0"), idempotency_key="smoketoken0000"
    )
    assert again.pk == stored[0].pk
    acked = tmp_path / "acked.txt"
    acked.write_text(f"{stored[0].pk}\n{stored[0].pk}\n{stored[1].pk}\n999999\n")
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("smoketoken0000\n")

    result = load_common._reconcile("smk", str(acked), str(tokens))

    assert result["rows"] == 3
    assert result["acked_distinct"] == 3 and result["acked_repeated"] == 1
    assert result["missing"] == 1 and result["missing_ids"] == [999999]
    assert result["unacked_rows"] == 1 and result["unacked_row_ids"] == [stored[2].pk]
    assert result["duplicate_references"] == 0 and result["half_written"] == 0
    assert result["decision_records"] == 3
    assert result["retried_tokens"] == 1 and result["retried_tokens_stored_once"] == 1


def test_cpu_share_is_per_request_and_counts_only_processes_seen_twice():
    before = load_common.CpuSample(processes={10: 1.0, 11: 2.0, 12: 5.0}, machine_busy=100.0, machine_idle=50.0)
    # Worker 12 was replaced by 13 in between: neither counts.
    after = load_common.CpuSample(processes={10: 2.5, 11: 3.5, 13: 0.2}, machine_busy=103.5, machine_idle=50.5)
    share = load_common.cpu_share(before, after, requests=1000)
    assert share == {
        "server_cpu_ms_per_request": 3.0,
        "machine_busy_ms_per_request": 3.5,
        "machine_idle_share": 0.125,
    }
    assert load_common.cpu_share(before, after, requests=0) == {}


def test_cpu_sample_reads_this_process_and_the_machine():
    import os

    first = load_common.cpu_sample([os.getpid(), 2**31 - 1])  # the second pid does not exist
    sum(range(2_000_000))  # burn a little CPU
    second = load_common.cpu_sample([os.getpid()])
    assert set(first.processes) == {os.getpid()}
    assert second.processes[os.getpid()] >= first.processes[os.getpid()]
    assert second.machine_busy >= first.machine_busy > 0
    assert second.machine_idle >= first.machine_idle


@pytest.mark.slow
def test_submit_instructions_script_submits_through_the_whole_stack():
    import subprocess

    script = Path(__file__).resolve().parents[2] / "bench" / "submit_instructions.py"
    result = subprocess.run(
        [sys.executable, str(script), "--wall", "--submits", "3", "--warmup", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "µs per submission (wall, in-process, synchronous=FULL)" in result.stdout
