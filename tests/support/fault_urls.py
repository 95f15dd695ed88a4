"""The product's URLs plus two that fail on purpose (for the error-page tests)."""

from django.db import OperationalError
from django.urls import path

from creditsite.urls import handler500
from creditsite.urls import urlpatterns as product_urlpatterns


def _boom(request):
    raise RuntimeError("a bug, with a secret in its message: hunter2")


def _database_down(request):
    raise OperationalError("could not connect to server: Connection refused")


urlpatterns = [
    path("test-faults/boom/", _boom),
    path("test-faults/database-down/", _database_down),
    *product_urlpatterns,
]

__all__ = ["handler500", "urlpatterns"]
