"""The case lifecycle as a pure state machine: its states, its actions, and the one transition function.

Every application has one current state (``LoanApplication.case_state``):

* ``PENDING``       not scored yet (the model was unavailable);
* ``MODEL_FINAL``   the model said APPROVE or DECLINE and that is final, unless a reviewer overrides it;
* ``IN_QUEUE``      in the review queue: the model said REVIEW, or a reviewer referred the case
  (documents requested), or a second reviewer rejected a proposed approval;
* ``CLAIMED``       one reviewer holds the case until its claim expires;
* ``AWAITING_2ND``  a reviewer's approval needs a second reviewer (four eyes) before it is final;
* ``DECIDED``       decided in review; final, no further change in the product.

Actions (each one ``audit.models.CaseRecord``, chained): ``CLAIM``, ``RELEASE``, ``DECIDE``
(APPROVE / DECLINE, final at once), ``REFER`` (back to the queue), ``PROPOSE`` (an approval awaiting a
second reviewer), ``CONFIRM`` and ``REJECT`` (the second reviewer's answer).

It lives in the audit app because two parties need exactly the same rules: ``applications.cases``
applies them when it writes a transition, and ``audit.verification`` replays every recorded transition
through them to prove the application row's state and final decision follow from its chain. *Who* may
take an action (roles, claims, four eyes, delegated limits) is the review workflow's business
(``reviews.services``); this module only says which moves exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from scoring.results import APPROVE, DECLINE, REVIEW

PENDING = "PENDING"
MODEL_FINAL = "MODEL_FINAL"
IN_QUEUE = "IN_QUEUE"
CLAIMED = "CLAIMED"
AWAITING_SECOND = "AWAITING_2ND"
DECIDED = "DECIDED"

STATE_LABELS: dict[str, str] = {
    PENDING: "Not scored yet",
    MODEL_FINAL: "Final (model decision)",
    IN_QUEUE: "In the review queue",
    CLAIMED: "Claimed by a reviewer",
    AWAITING_SECOND: "Awaiting second approval",
    DECIDED: "Final (decided in review)",
}
# States a reviewer acts on from the queue.
OPEN_STATES: tuple[str, ...] = (IN_QUEUE, CLAIMED, AWAITING_SECOND)

CLAIM = "CLAIM"
RELEASE = "RELEASE"
DECIDE = "DECIDE"
REFER = "REFER"
PROPOSE = "PROPOSE"
CONFIRM = "CONFIRM"
REJECT = "REJECT"
ACTION_LABELS: dict[str, str] = {
    CLAIM: "Claimed",
    RELEASE: "Released",
    DECIDE: "Decided",
    REFER: "Referred (kept in review)",
    PROPOSE: "Approval proposed (needs a second reviewer)",
    CONFIRM: "Approval confirmed by a second reviewer",
    REJECT: "Approval rejected by a second reviewer",
}
ACTIONS: tuple[str, ...] = tuple(ACTION_LABELS)


class IllegalTransition(ValueError):
    """The lifecycle has no such move from the current state (the message says why, for people)."""


@dataclass(frozen=True)
class CaseStep:
    """Where a case stands: its state, the decision in force and any approval awaiting a second reviewer."""

    state: str
    final_decision: str
    proposed_decision: str = ""


def initial_step(model_decision: str) -> CaseStep:
    """The state scoring puts an application in: REVIEW goes to the queue, APPROVE/DECLINE are final."""
    if model_decision == REVIEW:
        return CaseStep(IN_QUEUE, REVIEW)
    return CaseStep(MODEL_FINAL, model_decision)


def after_legacy_override(to_decision: str) -> CaseStep:
    """Where an override recorded before the lifecycle existed (``OverrideRecord``) left the case.

    Migration ``applications.0006`` set existing rows by the same rule: an override to REVIEW put the
    case in the queue; any other was a reviewer's final decision.
    """
    if to_decision == REVIEW:
        return CaseStep(IN_QUEUE, REVIEW)
    return CaseStep(DECIDED, to_decision)


def next_step(current: CaseStep, action: str, decision: str = "") -> CaseStep:
    """The step ``action`` leads to from ``current``; ``decision`` is the chosen APPROVE/DECLINE for DECIDE and PROPOSE.

    Raises ``IllegalTransition`` for a move the lifecycle does not have.
    """
    state, final = current.state, current.final_decision
    if action == CLAIM and state in (IN_QUEUE, CLAIMED):
        return CaseStep(CLAIMED, final)
    if action == RELEASE and state == CLAIMED:
        return CaseStep(IN_QUEUE, final)
    if action in (DECIDE, REFER, PROPOSE) and state in (CLAIMED, MODEL_FINAL):
        if action == REFER:
            return CaseStep(IN_QUEUE, REVIEW)
        if decision not in (APPROVE, DECLINE):
            raise IllegalTransition("Choose APPROVE or DECLINE.")
        if decision == final:
            raise IllegalTransition(f"The decision in force is already {decision}.")
        if action == PROPOSE:
            if decision != APPROVE:
                raise IllegalTransition("Only an approval waits for a second reviewer.")
            return CaseStep(AWAITING_SECOND, final, APPROVE)
        return CaseStep(DECIDED, decision)
    if action == CONFIRM and state == AWAITING_SECOND:
        return CaseStep(DECIDED, current.proposed_decision)
    if action == REJECT and state == AWAITING_SECOND:
        # Back where the proposal started: the queue for a REVIEW case, the model's decision for an override.
        return CaseStep(IN_QUEUE if final == REVIEW else MODEL_FINAL, final)
    raise IllegalTransition(
        f"A case that is {STATE_LABELS.get(state, state).lower()} cannot be {ACTION_LABELS.get(action, action).lower()}."
    )
