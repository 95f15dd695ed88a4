"""Queue tasks of batch files (run by ``manage.py qcluster``; see ``infrastructure.task_queue``)."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connections

from batches.services import process_chunk

logger = logging.getLogger(__name__)

# A database that has gone away (restart, failover, network) is waited for
# with growing pauses, up to a little less than the task's timeout; after
# that the task fails and the queue hands it out again after its lease.
_FIRST_PAUSE_SECONDS = 0.5
_LONGEST_PAUSE_SECONDS = 15.0


def run_chunk(job_id: int, number: int) -> int:
    """Process one chunk of a batch job; pauses while the database is unreachable, then resumes."""
    deadline = time.monotonic() + max(settings.QUEUE_TIMEOUT_SECONDS - 30, 5)
    pause = _FIRST_PAUSE_SECONDS
    while True:
        try:
            return process_chunk(job_id=job_id, number=number)
        except (OperationalError, InterfaceError) as error:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning(
                "Batch %s chunk %s: database unavailable (%s); retrying in %.1f s", job_id, number, error, pause
            )
            _drop_connections()
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)


def _drop_connections() -> None:
    """Close the (broken) connections; the next attempt opens new ones."""
    for connection in connections.all():
        try:
            connection.close()
        except DatabaseError:
            pass
    close_old_connections()
