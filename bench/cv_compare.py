"""Cross-validated quality: our Pipeline (issue 12 and before) beside the original design's RandomForest, same folds.

    .venv/bin/python bench/cv_compare.py

All three are fitted and scored on the same stratified 5 folds of the cleaned
shared training file: the issue-12 design (no age, monotone constraints), the
design served before it (hgb-3409bea3c4cf: every input, no constraints) and
the original RandomForest. The original design (as ../shared/peers/seed_flask_app
describes it: median-imputed numbers including the dataset's rounded
loan_percent_income and interest_burden, one-hot categories, a 100-tree
RandomForest) is rebuilt here from that description, for measurement only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")

import django  # noqa: E402

django.setup()

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder  # noqa: E402

from scoring import schema  # noqa: E402
from scoring.metrics import quality_metrics  # noqa: E402
from scoring.training import (  # noqa: E402
    DEFAULT_DESIGN,
    DEFAULT_SEED,
    ORIGINAL_HGB_DESIGN,
    PARAMS_BEFORE_ISSUE_12,
    build_pipeline,
    clean_training_frame,
    cross_validated_probabilities,
    read_dataset,
)

DATA = ROOT.parent / "shared" / "data" / "credit_risk_train.csv"


def with_interest_burden(frame):
    frame = frame.copy()
    frame["interest_burden"] = frame.loan_amnt * (frame.loan_int_rate / 100) / frame.person_income
    return frame


def original_design():
    numeric = [c for c in schema.NUMERIC_INPUTS] + ["loan_percent_income", "interest_burden"]
    return make_pipeline(
        FunctionTransformer(with_interest_burden),
        ColumnTransformer(
            [
                ("num", SimpleImputer(strategy="median"), numeric),
                ("cat", OneHotEncoder(handle_unknown="ignore"), list(schema.CATEGORICAL_INPUTS)),
            ]
        ),
        RandomForestClassifier(n_estimators=100, random_state=0),
    )


def main() -> None:
    frame, report = clean_training_frame(read_dataset(DATA))
    target = frame.pop(schema.TARGET).astype(int).to_numpy()
    results = {}
    for name, make_model, columns in (
        ("ours, issue 12", lambda: build_pipeline(seed=DEFAULT_SEED, design=DEFAULT_DESIGN), list(schema.INPUT_NAMES)),
        (
            "ours before (age, no constraints)",
            lambda: build_pipeline(seed=DEFAULT_SEED, design=ORIGINAL_HGB_DESIGN, params=PARAMS_BEFORE_ISSUE_12),
            list(schema.INPUT_NAMES),
        ),
        ("original RandomForest", original_design, list(schema.INPUT_NAMES) + ["loan_percent_income"]),
    ):
        start = time.perf_counter()
        probability = cross_validated_probabilities(
            frame.loc[:, columns], target, make_model=make_model, seed=DEFAULT_SEED
        )
        results[name] = {k: round(v, 4) for k, v in quality_metrics(target, probability).items()}
        results[name]["seconds"] = round(time.perf_counter() - start, 1)
        print(name, results[name], flush=True)
    print(json.dumps({"rows": report.rows_kept, "folds": 5, "seed": DEFAULT_SEED, "results": results}))


if __name__ == "__main__":
    main()
