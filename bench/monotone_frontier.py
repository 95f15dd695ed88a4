"""Issue 12's frontier: cross-validated quality against the income response, per model design.

    .venv/bin/python bench/monotone_frontier.py [--only NAME ...]

Every design is the full product Pipeline (Platt calibration on inner
out-of-fold scores) fitted on the same stratified 5 folds of the cleaned
shared training file. On each held-out fold the fold's model also scores the
same applicants with income 10%, 20% and 50% higher (loan unchanged): the
share whose decision (APPROVE < REVIEW < DECLINE) gets worse and the largest
rise in probability are out-of-fold figures, like the quality metrics.
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
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creditsite.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from scoring import schema  # noqa: E402
from scoring.metrics import quality_metrics  # noqa: E402
from scoring.response import INCOME_RISES, decision_rank  # noqa: E402
from scoring.training import (  # noqa: E402
    CV_FOLDS,
    DEFAULT_APPROVE_BELOW,
    DEFAULT_DECLINE_FROM,
    DEFAULT_DESIGN,
    DEFAULT_PARAMS,
    DEFAULT_SEED,
    ORIGINAL_HGB_DESIGN,
    PARAMS_BEFORE_ISSUE_12,
    ModelDesign,
    build_pipeline,
    clean_training_frame,
    read_dataset,
)

DATA = ROOT.parent / "shared" / "data" / "credit_risk_train.csv"
NO_AGE = tuple(name for name in schema.MODEL_FEATURES if name != "person_age")
LOAN_TERMS = {
    "loan_amnt": 1,
    "loan_int_rate": 1,
    "loan_percent_income": 1,
    "interest_burden": 1,
    "loan_grade": 1,
    "cb_person_default_on_file": 1,
}
NO_AMOUNT = tuple(name for name in NO_AGE if name != "loan_amnt")
RATIO_TERMS = {name: sign for name, sign in LOAN_TERMS.items() if name != "loan_amnt"}
DESIGNS: dict[str, tuple[ModelDesign, dict]] = {
    "original (age, free)": (ORIGINAL_HGB_DESIGN, PARAMS_BEFORE_ISSUE_12),
    "no age, free": (ModelDesign(columns=NO_AGE), PARAMS_BEFORE_ISSUE_12),
    "no age, loan terms monotone": (ModelDesign(columns=NO_AGE, monotonic=LOAN_TERMS), PARAMS_BEFORE_ISSUE_12),
    "no age, loan terms, income decreasing": (
        ModelDesign(columns=NO_AGE, monotonic={**LOAN_TERMS, "person_income": -1}),
        PARAMS_BEFORE_ISSUE_12,
    ),
    "no age, loan terms, no raw income": (
        ModelDesign(columns=tuple(n for n in NO_AGE if n != "person_income"), monotonic=LOAN_TERMS),
        PARAMS_BEFORE_ISSUE_12,
    ),
    "no age, loan terms, income/history/employment decreasing": (
        ModelDesign(
            columns=NO_AGE,
            monotonic={
                **LOAN_TERMS,
                "person_income": -1,
                "cb_person_cred_hist_length": -1,
                "person_emp_length": -1,
            },
        ),
        PARAMS_BEFORE_ISSUE_12,
    ),
    "no age, loan terms, income decreasing, 600 trees": (
        ModelDesign(columns=NO_AGE, monotonic={**LOAN_TERMS, "person_income": -1}),
        {**PARAMS_BEFORE_ISSUE_12, "max_iter": 600},
    ),
    "no age, loan terms, income decreasing, 63 leaves": (
        ModelDesign(columns=NO_AGE, monotonic={**LOAN_TERMS, "person_income": -1}),
        {**PARAMS_BEFORE_ISSUE_12, "max_leaf_nodes": 63},
    ),
    # Income as the model's own coordinate: with the loan amount replaced by
    # the two ratios (amount = ratio x income), "more income, same loan"
    # lowers both ratios and raises income, so it is the constraint signs
    # together (ratios up, income down) that rule a worse decision out.
    "no age, ratios not amount, income free": (
        ModelDesign(columns=NO_AMOUNT, monotonic=RATIO_TERMS),
        PARAMS_BEFORE_ISSUE_12,
    ),
    "no age, ratios not amount, income decreasing": (
        ModelDesign(columns=NO_AMOUNT, monotonic={**RATIO_TERMS, "person_income": -1}),
        PARAMS_BEFORE_ISSUE_12,
    ),
    "no age, ratios not amount, income/history/employment decreasing": (
        ModelDesign(
            columns=NO_AMOUNT,
            monotonic={
                **RATIO_TERMS,
                "person_income": -1,
                "cb_person_cred_hist_length": -1,
                "person_emp_length": -1,
            },
        ),
        PARAMS_BEFORE_ISSUE_12,
    ),
    "no age, ratios not amount, income decreasing, 600 trees lr 0.05": (
        ModelDesign(columns=NO_AMOUNT, monotonic={**RATIO_TERMS, "person_income": -1}),
        {**PARAMS_BEFORE_ISSUE_12, "max_iter": 600, "learning_rate": 0.05},
    ),
    "chosen design with 300 trees": (DEFAULT_DESIGN, PARAMS_BEFORE_ISSUE_12),
    "chosen (scoring.training.DEFAULT_DESIGN, DEFAULT_PARAMS)": (DEFAULT_DESIGN, DEFAULT_PARAMS),
}
# Capacity for the fully constrained design (tuning by CV only).
for learning_rate, max_iter, max_leaf_nodes, min_samples_leaf in (
    (0.05, 300, 31, 20),
    (0.08, 150, 31, 20),
    (0.08, 300, 15, 20),
    (0.08, 300, 31, 50),
    (0.08, 300, 63, 20),
):
    DESIGNS[f"chosen, lr {learning_rate}, {max_iter} trees, {max_leaf_nodes} leaves, min leaf {min_samples_leaf}"] = (
        DEFAULT_DESIGN,
        {
            **PARAMS_BEFORE_ISSUE_12,
            "learning_rate": learning_rate,
            "max_iter": max_iter,
            "max_leaf_nodes": max_leaf_nodes,
            "min_samples_leaf": min_samples_leaf,
        },
    )


def coarse_income_model(log_step: float):
    """Income free but seen only in bands of ``log_step`` in log income (the ratios stay exact).

    For measurement only: a point between "income free" and "income
    decreasing" on the frontier, with single income values (pockets such as
    44,000 or 54,000) merged into their band.
    """

    def coarsen(frame):
        return frame.assign(person_income=np.round(np.log(frame["person_income"]) / log_step) * log_step)

    def make():
        pipeline = build_pipeline(
            params=PARAMS_BEFORE_ISSUE_12, seed=DEFAULT_SEED, design=ModelDesign(columns=NO_AGE, monotonic=LOAN_TERMS)
        )
        pipeline.steps.insert(1, ("coarsen_income", FunctionTransformer(coarsen)))
        return pipeline

    return make


COARSE = {
    f"no age, loan terms monotone, income free in log bands of {step}": coarse_income_model(step)
    for step in (0.1, 0.25)
}


def evaluate(design: ModelDesign | None, params: dict | None, frame, target, make_model=None) -> dict:
    make_model = make_model or (lambda: build_pipeline(params=params, seed=DEFAULT_SEED, design=design))
    folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=DEFAULT_SEED)
    probability = np.empty(len(frame))
    worse = {rise: 0 for rise in INCOME_RISES}
    max_rise = {rise: 0.0 for rise in INCOME_RISES}
    for train_index, test_index in folds.split(frame, target):
        model = make_model()
        model.fit(frame.iloc[train_index], target[train_index])
        held_out = frame.iloc[test_index]
        base = model.predict_proba(held_out)[:, 1]
        probability[test_index] = base
        for rise in INCOME_RISES:
            richer = held_out.copy()
            richer["person_income"] = richer["person_income"] * (1 + rise)
            moved = model.predict_proba(richer)[:, 1]
            rank_before = decision_rank(base, DEFAULT_APPROVE_BELOW, DEFAULT_DECLINE_FROM)
            rank_after = decision_rank(moved, DEFAULT_APPROVE_BELOW, DEFAULT_DECLINE_FROM)
            worse[rise] += int((rank_after > rank_before).sum())
            max_rise[rise] = max(max_rise[rise], float((moved - base).max()))
    metrics = quality_metrics(target, probability)
    return {
        "roc_auc": round(metrics["roc_auc"], 4),
        "brier": round(metrics["brier"], 4),
        "pr_auc": round(metrics["pr_auc"], 4),
        "log_loss": round(metrics["log_loss"], 4),
        "income_worse_share": {f"+{rise:.0%}": round(worse[rise] / len(frame), 4) for rise in INCOME_RISES},
        "income_max_rise": {f"+{rise:.0%}": round(max_rise[rise], 4) for rise in INCOME_RISES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="design names (substring match)")
    args = parser.parse_args()
    frame, report = clean_training_frame(read_dataset(DATA))
    target = frame.pop(schema.TARGET).astype(int).to_numpy()
    frame = frame.loc[:, list(schema.INPUT_NAMES)]
    results = {}
    with threadpool_limits(limits=1):
        for name, (design, params) in DESIGNS.items():
            if args.only and not any(part in name for part in args.only):
                continue
            start = time.perf_counter()
            results[name] = evaluate(design, params, frame, target)
            results[name]["seconds"] = round(time.perf_counter() - start, 1)
            print(name, json.dumps(results[name]), flush=True)
        for name, make_model in COARSE.items():
            if args.only and not any(part in name for part in args.only):
                continue
            start = time.perf_counter()
            results[name] = evaluate(None, None, frame, target, make_model=make_model)
            results[name]["seconds"] = round(time.perf_counter() - start, 1)
            print(name, json.dumps(results[name]), flush=True)
    print(json.dumps({"rows": report.rows_kept, "folds": CV_FOLDS, "seed": DEFAULT_SEED, "results": results}))


if __name__ == "__main__":
    main()
