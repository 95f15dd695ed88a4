"""A model whose reasons come from another reason-code table is refused, never served with other words."""

from __future__ import annotations

import json

import pytest

from scoring.exceptions import ModelUnavailable
from scoring.model_cache import forget_loaded_models, get_model
from tests.support.scoring import CANDIDATE_VERSION


def test_unknown_reason_table_version_is_refused(private_store, settings):
    version = settings.SCORING_MODEL_VERSION = CANDIDATE_VERSION
    manifest_path = private_store / version / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["reason_codes"]["version"] = "RC-1999-01-1"
    manifest_path.write_text(json.dumps(manifest))
    forget_loaded_models()
    with pytest.raises(ModelUnavailable, match="reason-code table 'RC-1999-01-1'"):
        get_model()


def test_model_before_issue_12_keeps_its_uncoded_reasons(settings):
    settings.SCORING_MODEL_VERSION = "hgb-3409bea3c4cf"
    from scoring.services import score_application
    from tests.support.scoring import good_application

    result = score_application(good_application())
    assert result.reasons and all(reason.code is None for reason in result.reasons)
    assert all(set(reason.as_dict()) == {"feature", "text", "contribution"} for reason in result.reasons)
    assert "person_age" in result.features
