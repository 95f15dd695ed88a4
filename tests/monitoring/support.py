"""Known data for the monitoring tests: applications whose decision is known, placed on chosen days."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from applications.models import LoanApplication
from tests.support.factories import scored_application

# The serving model approves the factory's default applicant at every age and declines this one
# (within the model's training ranges: a loan of 100% of income at 22% would be REVIEW by the guard, issue 15).
DECLINED = {
    "loan_grade": "G",
    "cb_person_default_on_file": "Y",
    "loan_amnt": "20000",
    "person_income": "40000",
    "loan_int_rate": "14",
}


def application_on(day: dt.date, *, officer, approved: bool = True, **fields) -> LoanApplication:
    """A scored application, its creation time moved to noon UTC on ``day`` (the day it counts under)."""
    application = scored_application(officer, **({} if approved else DECLINED), **fields)
    assert application.decision == ("APPROVE" if approved else "DECLINE"), application.decision
    moment = timezone.make_aware(dt.datetime.combine(day, dt.time(12)), dt.UTC)
    LoanApplication.objects.filter(pk=application.pk).update(created_at=moment)
    application.created_at = moment
    return application
