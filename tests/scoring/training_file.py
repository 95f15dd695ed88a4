"""The whole training file as the product would score it (shared by the issue-12 tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring import schema
from scoring.model_cache import LoadedModel
from scoring.training import clean_training_frame, read_dataset
from tests.support.scoring import require_shared_data


def accepted_training_rows() -> pd.DataFrame:
    """Every row of the shared file the schema accepts, inputs only (missing rate/employment kept)."""
    frame = read_dataset(require_shared_data())
    frame = frame[schema.frame_rejections(frame).isna()].reset_index(drop=True)
    return frame.loc[:, list(schema.INPUT_NAMES)]


def cleaned_training_inputs() -> pd.DataFrame:
    """The rows training used (duplicates dropped too): what the manifest's figures are measured on."""
    frame, _ = clean_training_frame(read_dataset(require_shared_data()))
    return frame.loc[:, list(schema.INPUT_NAMES)]


def probabilities(model: LoadedModel, frame: pd.DataFrame) -> np.ndarray:
    """The served probabilities for a table (the compiled batch path, bit for bit the artifact's)."""
    rows = model.pipeline[:-1].transform(frame)
    return np.asarray(model.compiled.calibrate(model.compiled.raw_scores(rows)), dtype=np.float64)
