"""Operations tables."""

from django.db import models


class Heartbeat(models.Model):
    """Target of the health check's probe write (always rolled back: stays empty)."""

    at = models.DateTimeField()

    class Meta:
        verbose_name = "health-check heartbeat"

    def __str__(self) -> str:
        return f"heartbeat at {self.at:%Y-%m-%d %H:%M:%S}"
