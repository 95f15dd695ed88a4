"""``manage.py run_workers``: the task queue's worker cluster, with the model loaded before the fork.

django-q2's ``qcluster`` forks its worker processes from this one; loading
and compiling the model here first (as gunicorn's preload does for the web
workers) means every worker, and every worker started again after a
timeout, a recycle or a crash, scores at once instead of spending seconds
importing scikit-learn and compiling the trees inside its first task (on a
busy machine longer than a short task timeout, so the task would be killed
and retried for ever). A model that cannot be loaded is logged; tasks then
store applications as PENDING, as the pages do.

Everything loaded by then (Django, the model, scikit-learn, numba) is then
moved out of the cyclic garbage collector's reach with ``gc.freeze()``: it
lives as long as the process, and without the freeze every full collection
in a worker walks all of it again (and writes to the pages the fork shares,
copying them): a large share of a batch chunk's CPU (docs/performance.md,
"Batch path toward 5,000 rows/s").
"""

from __future__ import annotations

import gc
import logging
import os

from django.core.management import call_command
from django.core.management.base import BaseCommand

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the task queue's workers (django-q2 qcluster) with the model loaded and compiled first."

    def handle(self, *args, **options) -> None:
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, "1")
        from scoring.exceptions import ModelUnavailable
        from scoring.model_cache import get_model

        try:
            model = get_model()
        except ModelUnavailable as error:
            logger.error("model unavailable (tasks store applications as PENDING until it is fixed): %s", error)
        else:
            logger.info("model %s loaded and verified (sha256 %s)", model.version, model.sha256)
        freeze_long_lived_objects()
        call_command("qcluster")


def freeze_long_lived_objects() -> int:
    """Collect once, then keep everything alive now out of later collections (inherited by forked workers).

    Returns how many objects were frozen. Frozen objects are still freed by
    reference counting; only cycles among them would stay (none are expected
    in modules and a loaded model, which live as long as the process anyway).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
