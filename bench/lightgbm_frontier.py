"""Issue 12 with LightGBM: does a monotone, age-blind LightGBM reach the quality bar? Same folds as our CV.

    .venv/bin/python bench/lightgbm_frontier.py [--only NAME ...]

For measurement only (LightGBM is not a product dependency unless adopted):
``pip install lightgbm==4.7.0``. Every configuration is the product
Pipeline's shape with the booster swapped: ``model_frame`` (no age) ->
ordinal codes -> ``CalibratedClassifierCV(LGBMClassifier, sigmoid,
ensemble=False)`` with Platt scaling fitted on inner 5-fold out-of-fold raw
scores (log-odds, like HistGradientBoosting's ``decision_function``). The
outer folds are ``bench/monotone_frontier.py``'s: stratified 5 folds, seed
20261126, of the cleaned shared training file; the income response (+10/20/50%,
loan unchanged) is measured out of fold on each held-out fold, as there.
Single-threaded, deterministic fits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
from lightgbm import LGBMClassifier  # noqa: E402
from monotone_frontier import NO_AGE, evaluate  # noqa: E402  (sets up Django and the path)
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from scoring import schema  # noqa: E402
from scoring.features import model_frame, model_frame_names  # noqa: E402
from scoring.training import CV_FOLDS, DEFAULT_SEED, ModelDesign, clean_training_frame, read_dataset  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "credit_risk_train.csv"


class RawScoreLGBMClassifier(LGBMClassifier):
    """LGBMClassifier with ``decision_function`` = raw score (log-odds), so Platt scaling sees log-odds."""

    def decision_function(self, X):
        return self.predict(X, raw_score=True)


def lightgbm_pipeline(design: ModelDesign, params: dict, method: str = "sigmoid") -> Pipeline:
    categorical = [name for name in design.columns if name in schema.CATEGORICAL_INPUTS]
    categories = [list(schema.FIELDS_BY_NAME[name].values) for name in categorical]
    encode = ColumnTransformer(
        [("categories", OrdinalEncoder(categories=categories, dtype=np.float64), categorical)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    constraints = design.monotonic_cst()
    booster = RawScoreLGBMClassifier(
        objective="binary",
        random_state=DEFAULT_SEED,
        n_jobs=1,
        deterministic=True,
        force_row_wise=True,
        verbose=-1,
        monotone_constraints=constraints if any(constraints) else None,
        **params,
    )
    derive = FunctionTransformer(
        model_frame, kw_args={"columns": tuple(design.columns)}, feature_names_out=model_frame_names
    )
    calibrated = CalibratedClassifierCV(
        booster,
        method=method,
        ensemble=False,
        cv=StratifiedKFold(CV_FOLDS, shuffle=True, random_state=DEFAULT_SEED),
    )
    return Pipeline([("derive", derive), ("encode", encode), ("classify", calibrated)])


LOAN_TERMS_4 = {"loan_amnt": 1, "loan_int_rate": 1, "loan_percent_income": 1, "interest_burden": 1}
LOAN_TERMS_6 = {**LOAN_TERMS_4, "loan_grade": 1, "cb_person_default_on_file": 1}
BASE = {
    "n_estimators": 500,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "reg_lambda": 1.0,
    "monotone_constraints_method": "intermediate",
}


def configurations() -> dict[str, tuple[ModelDesign, dict]]:
    configs: dict[str, tuple[ModelDesign, dict]] = {
        "lgbm no age, free": (ModelDesign(columns=NO_AGE), BASE),
        "lgbm no age, 4 loan terms": (ModelDesign(columns=NO_AGE, monotonic=LOAN_TERMS_4), BASE),
        "lgbm no age, 6 loan terms (+grade, default on file)": (
            ModelDesign(columns=NO_AGE, monotonic=LOAN_TERMS_6),
            BASE,
        ),
    }
    # One change at a time from BASE, 4 loan terms monotone.
    for label, change in (
        ("advanced", {"monotone_constraints_method": "advanced"}),
        ("63 leaves", {"num_leaves": 63}),
        ("lr 0.1, 300 trees", {"learning_rate": 0.1, "n_estimators": 300}),
        ("lr 0.03, 1000 trees", {"learning_rate": 0.03, "n_estimators": 1000}),
        ("min child 50", {"min_child_samples": 50}),
        ("reg_lambda 0", {"reg_lambda": 0.0}),
        ("reg_lambda 5", {"reg_lambda": 5.0}),
        ("250 trees", {"n_estimators": 250}),
        ("1000 trees", {"n_estimators": 1000}),
        ("15 leaves, 1000 trees", {"num_leaves": 15, "n_estimators": 1000}),
        ("min child 100", {"min_child_samples": 100}),
        ("min child 50, reg_lambda 5", {"min_child_samples": 50, "reg_lambda": 5.0}),
        # Second round: the two changes that helped Brier (more L2, fewer trees), combined and pushed.
        ("reg_lambda 5, 250 trees", {"reg_lambda": 5.0, "n_estimators": 250}),
        ("reg_lambda 20", {"reg_lambda": 20.0}),
        ("reg_lambda 20, min child 100", {"reg_lambda": 20.0, "min_child_samples": 100}),
    ):
        configs[f"lgbm no age, 4 loan terms, {label}"] = (
            ModelDesign(columns=NO_AGE, monotonic=LOAN_TERMS_4),
            {**BASE, **change},
        )
    configs["lgbm no age, 4 loan terms, income decreasing"] = (
        ModelDesign(columns=NO_AGE, monotonic={**LOAN_TERMS_4, "person_income": -1}),
        BASE,
    )
    configs["lgbm no age, 4 loan terms, reg_lambda 5, income decreasing"] = (
        ModelDesign(columns=NO_AGE, monotonic={**LOAN_TERMS_4, "person_income": -1}),
        {**BASE, "reg_lambda": 5.0},
    )
    configs["lgbm no age, 6 loan terms, income decreasing"] = (
        ModelDesign(columns=NO_AGE, monotonic={**LOAN_TERMS_6, "person_income": -1}),
        BASE,
    )
    # Not the product's calibration (the engine replays a sigmoid only): is Brier a calibration problem?
    configs["lgbm no age, 4 loan terms, reg_lambda 5, isotonic calibration"] = (
        ModelDesign(columns=NO_AGE, monotonic=LOAN_TERMS_4),
        {**BASE, "reg_lambda": 5.0, "calibration": "isotonic"},
    )
    configs["lgbm with age, free (sanity: LightGBM vs the old HGB)"] = (
        ModelDesign(columns=schema.MODEL_FEATURES),
        BASE,
    )
    return configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="configuration names (substring match)")
    parser.add_argument("--exact", action="store_true", help="--only names must match exactly")
    args = parser.parse_args()
    frame, report = clean_training_frame(read_dataset(DATA))
    target = frame.pop(schema.TARGET).astype(int).to_numpy()
    frame = frame.loc[:, list(schema.INPUT_NAMES)]
    results = {}
    with threadpool_limits(limits=1):
        for name, (design, params) in configurations().items():
            if args.only and not any((part == name) if args.exact else (part in name) for part in args.only):
                continue
            start = time.perf_counter()
            results[name] = evaluate(
                None,
                None,
                frame,
                target,
                make_model=lambda d=design, p=params: lightgbm_pipeline(
                    d,
                    {k: v for k, v in p.items() if k != "calibration"},
                    p.get("calibration", "sigmoid"),
                ),
            )
            results[name]["params"] = params
            results[name]["seconds"] = round(time.perf_counter() - start, 1)
            print(name, json.dumps(results[name]), flush=True)
    print(json.dumps({"rows": report.rows_kept, "folds": CV_FOLDS, "seed": DEFAULT_SEED, "results": results}))


if __name__ == "__main__":
    main()
