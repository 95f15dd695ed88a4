"""The reason codes the product starts with (seeded by migration ``0002``; managed in admin afterwards).

Statements follow the style of Regulation B's sample adverse-action reasons: specific and actionable,
never the applicant's age.
"""

from __future__ import annotations

from typing import Any

# (code, action, label); position is the order here.
SEED_REASON_CODES: tuple[tuple[str, str, str], ...] = (
    ("APP-INCOME", "APPROVE", "Income verified with documents supports repayment"),
    ("APP-COLLAT", "APPROVE", "Collateral or a guarantor reduces the risk"),
    ("APP-HISTORY", "APPROVE", "Credit history explains the model's concern"),
    ("APP-RELATION", "APPROVE", "Established relationship with the bank"),
    ("DEC-AFFORD", "DECLINE", "Income insufficient for the amount of credit requested"),
    ("DEC-DEBT", "DECLINE", "Excessive obligations in relation to income"),
    ("DEC-DELINQ", "DECLINE", "Delinquent past or present credit obligations"),
    ("DEC-VERIFY", "DECLINE", "Unable to verify income or employment"),
    ("DEC-POLICY", "DECLINE", "Outside the bank's lending policy for this purpose"),
    ("REF-DOCS", "REFER", "Documents requested from the applicant"),
    ("REF-INFO", "REFER", "More information needed from the loan officer"),
    ("REF-SENIOR", "REFER", "Needs a senior reviewer's opinion"),
    ("CNF-EVIDENCE", "CONFIRM", "Evidence reviewed supports the approval"),
    ("CNF-LIMIT", "CONFIRM", "Amount acceptable with the evidence on file"),
    ("REJ-EVIDENCE", "REJECT", "Evidence does not support approving against the model"),
    ("REJ-EXPOSURE", "REJECT", "Amount too large for the risk shown"),
)


def seed_reason_codes(*, apps: Any = None, using: str = "default") -> int:
    """Create any seed code that is missing (existing ones, and admins' edits to them, are left alone); returns how many."""
    from django.apps import apps as live_apps

    model = (apps or live_apps).get_model("reviews", "ReasonCode")
    created = 0
    for position, (code, action, label) in enumerate(SEED_REASON_CODES):
        _, was_created = model.objects.using(using).get_or_create(
            code=code, defaults={"action": action, "label": label, "position": position}
        )
        created += was_created
    return created
