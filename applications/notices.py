"""The adverse-action notice (ECOA / Regulation B, FCRA): built from stored data only.

Everything on a notice comes from what was stored when the decision was
made (the application row, its latest decision record, its overrides) and
from the creditor's settings; nothing is recomputed, so a later model, a
retrained one or an unavailable one never changes what an applicant is told,
and the same decision always gives the same text (and, ReportLab running in
its invariant mode, the same PDF bytes). One template,
``applications/notice.html``, makes both the page and the PDF (xhtml2pdf).

Principal reasons: a decision by a reason-code model (issue 12) stored the
code statements in order, and they are used as stored. The serving model
``hgb-3409bea3c4cf`` predates reason codes: it stored per-feature reasons
(feature, its value in words, contribution). The notice states them with the
code statement of the feature's group in the fixed table
(``scoring.reason_codes``, the same Regulation B wording), in the stored
order, once per code, never age (Regulation B forbids it as a reason; the
model had it as an input) and never "no default on file" (a favourable fact
is not a reason for a decline).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from reportlab import rl_config
from xhtml2pdf import pisa
from xhtml2pdf.default import DEFAULT_CSS

from applications.models import LoanApplication
from audit import lifecycle
from scoring.explain import MAX_REASONS
from scoring.reason_codes import CODE_OF_COLUMN, NEVER_A_REASON
from scoring.results import DECLINE

NOTICE_TEMPLATE = "applications/notice.html"
NOTICE_STYLESHEET = "css/notice.css"
NOT_DECLINED = (
    "There is no adverse-action notice for this application: its decision in force is {decision}, not DECLINE."
)
NOT_FINAL = "There is no adverse-action notice yet: this application's case is still open in review."
NOT_SCORED = "There is no adverse-action notice for this application: it has not been scored yet."

ECOA_PARAGRAPH = (
    "The federal Equal Credit Opportunity Act prohibits creditors from discriminating against credit "
    "applicants on the basis of race, color, religion, national origin, sex, marital status, age (provided "
    "the applicant has the capacity to enter into a binding contract); because all or part of the "
    "applicant's income derives from any public assistance program; or because the applicant has in good "
    "faith exercised any right under the Consumer Credit Protection Act. The federal agency that "
    "administers compliance with this law concerning this creditor is {agency}."
)
FCRA_PARAGRAPH = (
    "Our credit decision was based in whole or in part on information obtained in a report from the "
    "consumer reporting agency listed below. You have a right under the Fair Credit Reporting Act to know "
    "the information contained in your credit file at the consumer reporting agency. The reporting agency "
    "played no part in our decision and is unable to supply specific reasons why we have denied credit to "
    "you. You also have a right to a free copy of your report from the reporting agency, if you request it "
    "no later than 60 days after you receive this notice. In addition, if you find that any information "
    "contained in the report you receive is inaccurate or incomplete, you have the right to dispute the "
    "matter with the reporting agency."
)


@dataclass(frozen=True)
class AdverseActionNotice:
    """Everything a notice says; built by ``adverse_action_notice`` from stored data."""

    application_id: int
    reference: str
    decided_on: dt.date
    action_taken: str
    principal_reasons: tuple[str, ...]
    creditor_name: str
    creditor_address: str
    ecoa_paragraph: str
    fcra_paragraph: str
    bureau_name: str
    bureau_address: str
    bureau_phone: str
    # Which stored records it was made from: the notice can be traced back to them.
    decision_record_sequence: int
    decision_record_hash: str


def statements_from_stored_reasons(
    reasons: Sequence[Mapping[str, Any]], features: Mapping[str, Any]
) -> tuple[str, ...]:
    """The principal reasons a notice states, from the reasons stored with the decision.

    Coded reasons keep their statements and order. Uncoded reasons (models
    before issue 12) are stated with their feature's code statement; age and
    a clean credit file are never stated (see the module docstring).
    """
    statements: list[str] = []
    for reason in reasons:
        if reason.get("statement"):
            statement = reason["statement"]
        else:
            feature = reason.get("feature")
            if feature in NEVER_A_REASON or feature not in CODE_OF_COLUMN:
                continue
            if feature == "cb_person_default_on_file" and features.get(feature) != "Y":
                continue
            statement = CODE_OF_COLUMN[feature].statement
        if statement not in statements:
            statements.append(statement)
    return tuple(statements[:MAX_REASONS])


# A decision in force is final in these case states (audit.lifecycle): the model's APPROVE/DECLINE, or a
# reviewer's decision. REVIEW cases in the queue, claimed or awaiting a second approval are not final.
FINAL_STATES = (lifecycle.MODEL_FINAL, lifecycle.DECIDED)


def notice_available(application: LoanApplication) -> bool:
    """Whether the application has a notice: a final DECLINE, or a counter-offer."""
    if application.status != LoanApplication.Status.SCORED:
        return False
    return application.is_counter_offer or (
        application.final_decision == DECLINE and application.case_state in FINAL_STATES
    )


def adverse_action_notice(
    *,
    application: LoanApplication,
    decision_records: Sequence[Any],
    overrides: Sequence[Any] = (),
    case_records: Sequence[Any] = (),
) -> AdverseActionNotice:
    """The notice for a final DECLINE, or for a counter-offer; ``ValidationError`` otherwise.

    ``decision_records``, ``overrides`` (before the case lifecycle) and
    ``case_records`` are the application's audit records in chain order
    (audit selectors); the reasons, the date and the action come from them
    and the row, not from a model. Only records of the latest scoring count.
    A reviewer's DECLINE in review states its reason code first, then the
    model's reasons. A counter-offer (``LoanApplication.is_counter_offer``)
    gets the combined counter-offer and adverse-action notice: the amount
    asked for was not approved, the offered one is, and the reasons are those
    recorded for the amount asked for (the decision record the offer
    follows). Whether the applicant accepted the offer is not recorded in the
    product, so the notice is available for every counter-offer that is not
    itself declined.
    """
    if application.status != LoanApplication.Status.SCORED or not decision_records:
        raise ValidationError(NOT_SCORED)
    latest = decision_records[-1]
    if application.is_counter_offer and application.final_decision != DECLINE and len(decision_records) >= 2:
        declined_record = decision_records[-2]
        reasons = statements_from_stored_reasons(declined_record.document.get("reasons", []), declined_record.features)
        return _notice(
            application,
            record=declined_record,
            decided_at=application.counter_offered_at or latest.created_at,
            action_taken=(
                f"We cannot approve the loan of {_money(application.requested_loan_amnt)} you applied for. "
                f"We can offer you a loan of {_money(application.loan_amnt)} on the same terms instead. "
                "If you do not accept this offer, this notice tells you why your application was not approved."
            ),
            reasons=reasons,
        )
    if application.final_decision != DECLINE:
        raise ValidationError(NOT_DECLINED.format(decision=application.final_decision))
    if application.case_state not in FINAL_STATES:
        raise ValidationError(NOT_FINAL)
    # The records that reached the decision in force: those of the latest scoring, in order.
    changes = [o for o in overrides if o.decision_record_id == latest.pk]
    changes += [c for c in case_records if c.decision_record_id == latest.pk and c.to_decision != c.from_decision]
    changes.sort(key=lambda record: record.created_at)
    decided_at = changes[-1].created_at if changes else latest.created_at
    reasons = statements_from_stored_reasons(latest.document.get("reasons", []), latest.features)
    reviewer_reason = getattr(changes[-1], "reason_label", "") if changes else ""
    if reviewer_reason:
        # A reviewer's DECLINE: their coded reason is the principal one.
        reasons = tuple(dict.fromkeys((reviewer_reason, *reasons)))[:MAX_REASONS]
    elif not reasons and changes:
        reasons = (f"Other: {getattr(changes[-1], 'reason', '')}",)
    return _notice(
        application,
        record=latest,
        decided_at=decided_at,
        action_taken=f"Your application for a loan of {_money(application.loan_amnt)} has been declined.",
        reasons=reasons,
    )


def _notice(
    application: LoanApplication, *, record: Any, decided_at: dt.datetime, action_taken: str, reasons: tuple[str, ...]
) -> AdverseActionNotice:
    return AdverseActionNotice(
        application_id=application.pk,
        reference=application.applicant_reference or f"#{application.pk}",
        decided_on=decided_at.date(),
        action_taken=action_taken,
        principal_reasons=reasons,
        creditor_name=settings.BANK_CREDITOR_NAME,
        creditor_address=settings.BANK_CREDITOR_ADDRESS,
        ecoa_paragraph=ECOA_PARAGRAPH.format(agency=settings.BANK_ECOA_AGENCY),
        fcra_paragraph=FCRA_PARAGRAPH,
        bureau_name=settings.CREDIT_BUREAU_NAME,
        bureau_address=settings.CREDIT_BUREAU_ADDRESS,
        bureau_phone=settings.CREDIT_BUREAU_PHONE,
        decision_record_sequence=record.sequence,
        decision_record_hash=record.record_hash,
    )


def _money(value: Any) -> str:
    return f"{settings.BANK_CURRENCY} {value:,.2f}"


def notice_html(notice: AdverseActionNotice, *, pdf_link: str = "") -> str:
    """The notice as a standalone HTML page (print stylesheet included; no navigation, no script)."""
    return render_to_string(NOTICE_TEMPLATE, {"notice": notice, "pdf_link": pdf_link, "for_pdf": False})


def _notice_stylesheet() -> str:
    """The notice's stylesheet, read from our static files for the PDF (the page links the same file)."""
    path = finders.find(NOTICE_STYLESHEET)
    if path is None:
        raise RuntimeError(f"static file {NOTICE_STYLESHEET} is missing")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def notice_pdf(notice: AdverseActionNotice) -> bytes:
    """The same template rendered to PDF by xhtml2pdf (ReportLab), byte for byte repeatable."""
    html = render_to_string(NOTICE_TEMPLATE, {"notice": notice, "pdf_link": "", "for_pdf": True})
    # ReportLab's documented switch: no creation time or random document id in
    # the file, so the same notice gives the same bytes (and SHA-256).
    rl_config.invariant = 1
    output = io.BytesIO()
    # The page's stylesheet is handed to xhtml2pdf after its defaults: nothing is fetched by URL, and
    # the hashed static file names of production (collectstatic) play no part.
    status = pisa.CreatePDF(html, dest=output, encoding="utf-8", default_css=DEFAULT_CSS + _notice_stylesheet())
    if status.err:
        raise RuntimeError(f"the notice PDF could not be made ({status.err} errors)")
    return output.getvalue()


def sha256_hex(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()
