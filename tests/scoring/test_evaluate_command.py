"""evaluate_model scores every row it can and counts the rest as rejected."""

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from scoring.training import read_dataset
from tests.support.scoring import require_shared_data


def test_evaluate_prints_metrics_and_counts_rejections(tmp_path, capsys):
    frame = read_dataset(require_shared_data()).sample(2000, random_state=3).reset_index(drop=True)
    frame.loc[0:9, "loan_int_rate"] = np.nan  # blank rate: scored as missing
    frame.loc[10:14, "person_emp_length"] = np.nan  # blank employment: scored
    frame.loc[20, "person_age"] = 144  # refused by the schema
    frame.loc[21, "loan_grade"] = "Z"
    frame.loc[22, "person_income"] = 0
    path = tmp_path / "labelled.csv"
    frame.to_csv(path, index=False)
    already_bad = int((frame.person_age > 100).sum()) - 1  # the sample may hold a real one
    call_command("evaluate_model", "--data", str(path))
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["rejected"] == 3 + already_bad
    assert summary["n"] == 2000 - summary["rejected"]
    for key in ("roc_auc", "pr_auc", "brier", "log_loss", "accuracy", "ks", "ece"):
        assert 0 <= summary[key] <= 1 or key == "log_loss"
    assert summary["roc_auc"] > 0.9


def test_evaluate_refuses_a_file_without_labels(tmp_path):
    path = tmp_path / "nolabels.csv"
    read_dataset(require_shared_data()).head(50).drop(columns=["loan_status"]).to_csv(path, index=False)
    with pytest.raises(CommandError, match="no loan_status column"):
        call_command("evaluate_model", "--data", str(path))
