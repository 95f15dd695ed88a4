"""Scoring benchmark: our engine (active model and the one before issue 12) beside the original design, in one run.

    .venv/bin/python bench/scoring_bench.py [--rows 100000] [--repeat 5000]

Prints, for both: single-application median and p99 (warm, in-process), batch
rows/s, model load time and artifact size. The original design (a
RandomForest Pipeline, ``predict`` + ``predict_proba`` on a one-row
DataFrame) is trained by running ../shared/peers/seed_flask_app/train_seed_model.py
unchanged in a temporary folder. Threads are pinned to one, as when serving.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")

import django  # noqa: E402

django.setup()

import joblib  # noqa: E402
import pandas as pd  # noqa: E402

from scoring import schema  # noqa: E402
from scoring.model_cache import forget_loaded_models, get_model  # noqa: E402
from scoring.services import score_application, score_batch  # noqa: E402
from scoring.training import read_dataset  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "credit_risk_train.csv"
PEER = ROOT.parent / "shared" / "peers" / "seed_flask_app"
PREVIOUS_VERSION = "hgb-3409bea3c4cf"
APPLICATION = {
    "person_age": 22,
    "person_income": 59000,
    "person_home_ownership": "RENT",
    "person_emp_length": 5,
    "loan_intent": "PERSONAL",
    "loan_grade": "D",
    "loan_amnt": 35000,
    "loan_int_rate": 16.02,
    "cb_person_default_on_file": "Y",
    "cb_person_cred_hist_length": 3,
}


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def time_calls(function, repeat: int) -> tuple[float, float]:
    for _ in range(min(200, repeat)):
        function()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        function()
        samples.append(time.perf_counter_ns() - start)
    return percentiles(samples)


def big_frame(rows: int) -> pd.DataFrame:
    frame = read_dataset(DATA)
    frame = frame[schema.frame_rejections(frame).isna()]
    repeats = -(-rows // len(frame))
    return pd.concat([frame] * repeats, ignore_index=True).iloc[:rows]


def ours(frame: pd.DataFrame, repeat: int, version: str | None = None, label: str = "ours") -> dict:
    forget_loaded_models()
    start = time.perf_counter()
    model = get_model(version)
    load_seconds = time.perf_counter() - start
    median, p99 = time_calls(lambda: score_application(APPLICATION, model_version=version), repeat)
    score_batch(frame.head(1000), model_version=version)
    start = time.perf_counter()
    scores = score_batch(frame, model_version=version)
    batch_seconds = time.perf_counter() - start
    assert scores.accepted.all()
    return {
        "name": f"{label} ({model.version}, {model.compiled.n_trees} trees)",
        "median_us": median,
        "p99_us": p99,
        "batch_seconds": batch_seconds,
        "rows_per_s": len(frame) / batch_seconds,
        "load_seconds": load_seconds,
        "artifact_mb": model.stored.artifact_path.stat().st_size / 1e6,
    }


def seed_design(frame: pd.DataFrame, repeat: int) -> dict | None:
    trainer = PEER / "train_seed_model.py"
    if not trainer.is_file():
        return None
    workdir = Path(tempfile.mkdtemp(prefix="seed-rf-"))
    subprocess.run([sys.executable, str(trainer), str(DATA)], cwd=workdir, check=True, capture_output=True)
    artifact = workdir / "credit_risk_model.pkl"
    start = time.perf_counter()
    model = joblib.load(artifact)
    load_seconds = time.perf_counter() - start

    def predict_one():
        # As the seed's /predict route does it.
        features = pd.DataFrame(
            {
                "person_age": [22.0],
                "person_income": [59000.0],
                "person_home_ownership": ["RENT"],
                "person_emp_length": [5.0],
                "loan_intent": ["PERSONAL"],
                "loan_grade": ["D"],
                "loan_amnt": [35000.0],
                "loan_int_rate": [16.02],
                "loan_percent_income": [0.59],
                "cb_person_default_on_file": ["Y"],
                "cb_person_cred_hist_length": [3.0],
                "interest_burden": [35000 * 0.1602 / 59000],
            }
        )
        model.predict(features)
        model.predict_proba(features)

    median, p99 = time_calls(predict_one, max(50, repeat // 50))
    table = frame.copy()
    table["interest_burden"] = table.loan_amnt * (table.loan_int_rate / 100) / table.person_income
    table = table.drop(columns=["loan_status"])
    start = time.perf_counter()
    model.predict_proba(table)
    batch_seconds = time.perf_counter() - start
    return {
        "name": "original design (RandomForest pipeline)",
        "median_us": median,
        "p99_us": p99,
        "batch_seconds": batch_seconds,
        "rows_per_s": len(frame) / batch_seconds,
        "load_seconds": load_seconds,
        "artifact_mb": artifact.stat().st_size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5000)
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"needs the training data at {DATA}")
    frame = big_frame(args.rows)
    results = [ours(frame, args.repeat, label="ours, issue 12")]
    # The model served before issue 12 (age, no constraints, path reasons), pinned.
    if results[0]["name"].split(" (")[1].split(",")[0] != PREVIOUS_VERSION:
        results.append(ours(frame, args.repeat, version=PREVIOUS_VERSION, label="ours before"))
    seed = seed_design(frame, args.repeat)
    if seed:
        results.append(seed)
    print(
        f"{'':52s} {'single median':>14s} {'single p99':>11s} {'batch ' + str(args.rows) + ' rows':>17s} {'rows/s':>10s} {'load':>8s} {'artifact':>9s}"
    )
    for r in results:
        print(
            f"{r['name']:52s} {r['median_us']:11.1f} us {r['p99_us']:8.1f} us {r['batch_seconds']:15.3f} s "
            f"{r['rows_per_s']:10,.0f} {r['load_seconds']:6.2f} s {r['artifact_mb']:6.1f} MB"
        )
    if seed:
        print(
            f"single-application speed-up: {seed['median_us'] / results[0]['median_us']:.0f}x; "
            f"batch speed-up: {seed['batch_seconds'] / results[0]['batch_seconds']:.1f}x"
        )


if __name__ == "__main__":
    main()
