"""Reads: what serves now (cheaply, on every scoring), the registry of model versions, the proposals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count

from audit.models import DecisionRecord, GovernanceRecord
from governance.models import ChallengerState, ChangeProposal, ServingState
from scoring.exceptions import ModelUnavailable
from scoring.model_cache import get_model
from scoring.services import DecisionPolicy, manifest_policy_version
from scoring.store import MANIFEST_NAME, active_version, read_manifest

GOVERNED = "governed"
ACTIVE_FILE = "active_file"
PINNED = "pinned"


@dataclass(frozen=True)
class Serving:
    """The model version and decision policy new applications are scored with, and where that comes from."""

    model_version: str
    policy: DecisionPolicy | None  # None: the model manifest's cut-offs
    source: str  # GOVERNED, ACTIVE_FILE or PINNED
    revision: int = 0


_SQL: str | None = None
# Per process: the last row read and the Serving built from it, rebuilt only when the revision moves.
_cached: tuple[tuple, Serving] | None = None


def _read_state() -> tuple[str | None, tuple | None]:
    """The challenger's version and the serving-state row, in one statement (no ORM, ~tens of µs).

    The per-scoring freshness check: two primary-key lookups of one-row
    tables joined to a constant row, so an absent row reads as NULLs.
    """
    global _SQL
    if _SQL is None:
        quote = connection.ops.quote_name
        columns = ", ".join(
            f"s.{quote(name)}"
            for name in ("revision", "model_version", "policy_version", "approve_below", "decline_from")
        )
        _SQL = (
            f"SELECT c.{quote('model_version')}, {columns} FROM (SELECT 1 AS k) one "
            f"LEFT JOIN {quote(ChallengerState._meta.db_table)} c ON c.{quote('id')} = %s "
            f"LEFT JOIN {quote(ServingState._meta.db_table)} s ON s.{quote('id')} = %s"
        )
    with connection.cursor() as cursor:
        cursor.execute(_SQL, [ChallengerState.SINGLETON_ID, ServingState.SINGLETON_ID])
        challenger, *serving = cursor.fetchone()
    return (challenger or None), (tuple(serving) if serving[0] is not None else None)


def _read_row() -> tuple | None:
    return _read_state()[1]


def governed_serving() -> Serving | None:
    """The approved serving state, read from the database on every call (``None`` before any approval).

    Every process (gunicorn worker, task-queue worker, command) asks here
    before scoring, so an approved switch applies to the next application
    everywhere without a restart. The loaded model itself stays cached per
    process by ``scoring.model_cache`` (keyed by version), so a switch costs
    one model load per process, once.
    """
    row = _read_row()
    if row is None:
        return None
    return _serving_from(row)


def _serving_from(row: tuple) -> Serving:
    """The Serving for a serving-state row, rebuilt only when the row changed."""
    global _cached
    if _cached is not None and _cached[0] == row:
        return _cached[1]
    revision, model_version, policy_version, approve_below, decline_from = row
    serving = Serving(
        model_version=model_version,
        policy=DecisionPolicy(
            version=policy_version, approve_below=float(approve_below), decline_from=float(decline_from)
        ),
        source=GOVERNED,
        revision=int(revision),
    )
    _cached = (row, serving)
    return serving


def challenger_version() -> str | None:
    """The challenger version scoring in shadow, or ``None`` (read from the database on every call)."""
    return _read_state()[0]


def scoring_plan() -> tuple[dict[str, Any], str | None]:
    """``scoring_arguments()`` and ``challenger_version()`` from one read: what a submission asks before scoring.

    Read on every call, like the serving state, so setting or removing a
    challenger applies to the next application in every process.
    """
    challenger, row = _read_state()
    if settings.SCORING_MODEL_VERSION or row is None:
        return {}, challenger
    serving = _serving_from(row)
    return {"model_version": serving.model_version, "policy": serving.policy}, challenger


def scoring_arguments() -> dict[str, Any]:
    """Keyword arguments for ``scoring.services.score_application``: the model and policy in force.

    A pinned version (``SCORING_MODEL_VERSION``, an operator's override)
    and a database without any approved change leave the choice to
    ``scoring`` (the pin, else the ``ACTIVE`` file, with the manifest's
    cut-offs).
    """
    if settings.SCORING_MODEL_VERSION:
        return {}
    serving = governed_serving()
    if serving is None:
        return {}
    return {"model_version": serving.model_version, "policy": serving.policy}


def current_serving() -> Serving:
    """What serves now, for pages and proposals (raises ``ModelUnavailable`` if nothing is named)."""
    if settings.SCORING_MODEL_VERSION:
        return Serving(model_version=settings.SCORING_MODEL_VERSION, policy=None, source=PINNED)
    serving = governed_serving()
    if serving is not None:
        return serving
    return Serving(model_version=active_version(Path(settings.MODELS_STORE_DIR)), policy=None, source=ACTIVE_FILE)


def serving_policy(serving: Serving) -> DecisionPolicy:
    """The cut-offs in force: the governed policy, else the manifest's."""
    if serving.policy is not None:
        return serving.policy
    thresholds = read_manifest(Path(settings.MODELS_STORE_DIR), serving.model_version).get("thresholds") or {}
    return DecisionPolicy(
        version=manifest_policy_version(serving.model_version),
        approve_below=float(thresholds["approve_below"]),
        decline_from=float(thresholds["decline_from"]),
    )


def stored_versions() -> list[str]:
    """Every version in the model store (a folder with a manifest), newest manifest first."""
    store = Path(settings.MODELS_STORE_DIR)
    found = []
    for folder in store.iterdir() if store.is_dir() else ():
        if folder.is_dir() and (folder / MANIFEST_NAME).is_file():
            found.append(folder.name)
    return sorted(found)


@dataclass(frozen=True)
class RegistryEntry:
    version: str
    manifest: dict
    decisions: int
    active: bool
    usable: bool
    problem: str
    last_activated: Any

    @property
    def trained_at(self) -> str:
        return self.manifest.get("created_at", "")

    @property
    def training_data(self) -> dict:
        return self.manifest.get("training_data") or {}

    @property
    def metrics(self) -> list[tuple[str, Any]]:
        """Cross-validated figures as (name, mean) pairs, whatever shape training wrote them in."""
        cv = self.manifest.get("cross_validation") or {}
        figures = cv.get("metrics", cv) if isinstance(cv, dict) else {}
        pairs = []
        for name, value in figures.items():
            if isinstance(value, dict) and "mean" in value:
                pairs.append((name, value["mean"]))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                pairs.append((name, value))
        return pairs

    @property
    def constraints(self) -> list[tuple[str, int]]:
        recorded = self.manifest.get("monotonic_constraints") or {}
        if isinstance(recorded, dict):
            return sorted(recorded.items())
        return list(zip(self.manifest.get("model_columns") or [], recorded, strict=False))

    @property
    def reason_codes(self) -> dict:
        return self.manifest.get("reason_codes") or {}

    @property
    def thresholds(self) -> dict:
        return self.manifest.get("thresholds") or {}


def registry(serving: Serving) -> list[RegistryEntry]:
    """Every stored version with its manifest, how many decisions it made, and whether it would load."""
    usage = dict(
        DecisionRecord.objects.values("model_version").annotate(n=Count("id")).values_list("model_version", "n")
    )
    activated = {}
    for version, moment in GovernanceRecord.objects.filter(action=GovernanceRecord.ACTIVATE_MODEL).values_list(
        "model_version", "created_at"
    ):
        activated[version] = max(moment, activated.get(version, moment))
    entries = []
    store = Path(settings.MODELS_STORE_DIR)
    for version in sorted(set(stored_versions()) | set(usage)):
        try:
            manifest = read_manifest(store, version)
        except ModelUnavailable as error:
            manifest, problem = {}, str(error)
        else:
            problem = ""
        usable = False
        if not problem:
            try:
                get_model(version)
                usable = True
            except ModelUnavailable as error:
                problem = str(error)
        entries.append(
            RegistryEntry(
                version=version,
                manifest=manifest,
                decisions=usage.get(version, 0),
                active=version == serving.model_version,
                usable=usable,
                problem=problem,
                last_activated=activated.get(version),
            )
        )
    return entries


def pending_proposals() -> list[ChangeProposal]:
    return list(ChangeProposal.objects.filter(status=ChangeProposal.Status.PENDING).select_related("proposed_by"))


def recent_changes(limit: int = 20) -> list[GovernanceRecord]:
    return list(GovernanceRecord.objects.order_by("-sequence").select_related("proposed_by", "approved_by")[:limit])
