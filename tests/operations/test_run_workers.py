"""``manage.py run_workers``: the model is loaded, then the long-lived objects frozen, before the cluster forks."""

from __future__ import annotations

import gc

import pytest
from django.core.management import call_command

from operations.management.commands import run_workers
from scoring import model_cache


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_the_model_is_loaded_and_the_heap_frozen_before_qcluster_forks(monkeypatch, unfrozen):
    loaded: list[str] = []
    at_fork: dict[str, object] = {}
    real_get_model = model_cache.get_model

    def get_model():
        model = real_get_model()
        loaded.append(model.version)
        return model

    def qcluster(name, *args, **kwargs):
        assert name == "qcluster"
        at_fork.update(loaded=list(loaded), frozen=gc.get_freeze_count())

    monkeypatch.setattr(model_cache, "get_model", get_model)
    monkeypatch.setattr(run_workers, "call_command", qcluster)
    call_command("run_workers")
    # The workers fork from a process whose model is loaded and whose heap the collector no longer walks.
    assert at_fork["loaded"] and at_fork["frozen"] > 10_000
