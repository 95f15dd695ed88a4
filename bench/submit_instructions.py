"""Instructions per submission: a repeatable measure of the submit path's CPU cost.

    .venv/bin/python bench/submit_instructions.py [--submits 200] [--keep FILE] [--wall]

Wall-clock figures on these shared 2-core machines swing by a third between
runs; callgrind counts instructions, which repeat to within about 0.5% for
the same code. The script builds what gunicorn would hand Django (a WSGI
environ with the session cookie, CSRF token, forwarded-HTTPS header and a
url-encoded form) and calls ``creditsite.wsgi.application`` directly: every
middleware, the view, validation, scoring, both inserts, the audit chain
and the COMMIT (``synchronous=FULL`` on a temporary SQLite file), but not
gunicorn, the network or other processes. It re-runs itself under
``valgrind --tool=callgrind`` (Debian's valgrind package), switches the
instrumentation on after a warm-up for ``--submits`` submissions only, and
prints the instructions per submission; ``--keep`` keeps callgrind's file
for ``callgrind_annotate``. ``--wall`` skips valgrind and prints the wall
time per submission instead.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load_common  # noqa: E402

CHILD_FLAG = "--under-callgrind"


def _callgrind(args: argparse.Namespace) -> int:
    """Run this script again under callgrind; print the instructions per measured submission."""
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"{tool} not found (apt-get install valgrind), or use --wall", file=sys.stderr)
            return 2
    out = Path(args.keep) if args.keep else load_common.make_workdir("instructions-cg") / "submit.callgrind"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(Path(__file__).resolve()),
        CHILD_FLAG,
        "--submits",
        str(args.submits),
        "--warmup",
        str(args.warmup),
    ]
    load_common.log(f"under callgrind (a few minutes): {' '.join(command)}")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-2000:], result.stderr[-3000:], file=sys.stderr)
        return result.returncode
    # The file's "totals:" line counts what ran while instrumentation was on.
    totals = [int(value) for value in re.findall(r"^totals:\s+(\d+)", out.read_text(), re.MULTILINE)]
    if not totals or not max(totals):
        print(f"no instructions counted in {out}", file=sys.stderr)
        return 1
    instructions = max(totals)
    print(
        f"{instructions / args.submits / 1e6:.3f} M instructions per submission "
        f"({instructions:,} over {args.submits}; callgrind, in-process WSGI, synchronous=FULL)"
    )
    if args.keep:
        print(f"callgrind file: {out} (callgrind_annotate {out} | head -40)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submits", type=int, default=200, help="submissions measured (default 200)")
    parser.add_argument("--warmup", type=int, default=300, help="submissions before measuring (default 300)")
    parser.add_argument("--keep", metavar="FILE", help="write callgrind's output here and keep it")
    parser.add_argument("--wall", action="store_true", help="no valgrind: wall time per submission")
    parser.add_argument(CHILD_FLAG, dest="child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.wall and not args.child:
        return _callgrind(args)

    signed_in = load_common.in_process_officer(kind="sqlite", database="instructions", username="instructions-officer")
    client, csrf = signed_in.client, signed_in.csrf_token
    from creditsite.wsgi import application

    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    origin = "https://127.0.0.1:8000"
    statuses: list[str] = []

    def start_response(status: str, headers: list, exc_info=None) -> None:
        statuses.append(status)

    def submit(number: int) -> None:
        body = urlencode(
            {
                **load_common.FORM,
                "applicant_reference": f"ins-{number}",
                "loan_amnt": load_common.unique_amount(number),
                "csrfmiddlewaretoken": csrf,
                "idempotency_key": f"instoken{number:08d}",
            }
        ).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": "/applications/new/",
            "QUERY_STRING": "",
            "RAW_URI": "/applications/new/",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "50000",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_USER_AGENT": "submit_instructions",
            "HTTP_COOKIE": cookie,
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_ORIGIN": origin,
            "HTTP_REFERER": origin + "/applications/new/",
            "HTTP_X_FORWARDED_PROTO": "https",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        response = application(environ, start_response)
        for _ in response:
            pass
        response.close()
        if not statuses[-1].startswith("303"):
            raise RuntimeError(f"submission {number}: {statuses[-1]}")

    for number in range(args.warmup):
        submit(number)
    numbers = range(args.warmup, args.warmup + args.submits)
    if args.child:
        # Only these submissions are counted; callgrind writes its file when the process exits.
        subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
        for number in numbers:
            submit(number)
        subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True, capture_output=True)
    else:
        started = time.perf_counter()
        for number in numbers:
            submit(number)
        elapsed = time.perf_counter() - started
        print(f"{elapsed / args.submits * 1e6:.0f} µs per submission (wall, in-process, synchronous=FULL)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        load_common.REAPER.stop_all()
