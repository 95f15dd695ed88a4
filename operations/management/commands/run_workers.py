"""``manage.py run_workers``: the task queue's worker cluster, with the model loaded before the fork.

django-q2's ``qcluster`` forks its worker processes from this one; loading
and compiling the model here first (as gunicorn's preload does for the web
workers) means every worker, and every worker started again after a
timeout, a recycle or a crash, scores at once instead of spending seconds
importing scikit-learn and compiling the trees inside its first task (on a
busy machine longer than a short task timeout, so the task would be killed
and retried for ever). A model that cannot be loaded is logged; tasks then
store applications as PENDING, as the pages do.
"""

from __future__ import annotations

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
        call_command("qcluster")
