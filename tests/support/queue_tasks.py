"""Task functions the queue tests put on a real queue (workers import them by dotted path)."""

from __future__ import annotations

import time
from pathlib import Path


def append_line(path: str, text: str) -> str:
    with open(path, "a") as file:
        file.write(text + "\n")
    return text


def slow_on_first_attempt(path: str, seconds: float) -> str:
    """Write ``start``; the first time, sleep ``seconds`` (long enough to be killed), then write ``done``."""
    lines = Path(path).read_text().splitlines() if Path(path).exists() else []
    append_line(path, "start")
    if not lines:
        time.sleep(seconds)
    return append_line(path, "done")
