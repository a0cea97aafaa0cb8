"""The state table, driven through the real services.

First every row of ``returns.states.TRANSITIONS`` and every (status, action) pair
that is not in it, one test each. Then random walks on one claim: Hypothesis picks actions, actors and options; the machine checks each step against
``returns.states.TRANSITIONS`` and, after every step, the invariants: the status is
reachable through the table, the events chain from one status to the next, every
change has exactly one event, and the RMA number, given once, never changes.
"""

import itertools
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from core import actors
from returns import services, states
from returns.models import Claim, ClaimEvent, ClaimStatus, ClaimType, DoaReason, Evidence, EvidenceKind, OutboundEmail
from returns.tests.factories import OrderFactory, OrderLineFactory

SERVICES = {
    "ask_for_information": (services.claim_ask_for_information, {"message": "Please send the serial number."}),
    "record_customer_answer": (services.claim_record_customer_answer, {"answer": "It is SN-0042."}),
    "resolve": (services.claim_resolve, {"note": "A firmware update fixed it."}),
    "approve": (services.claim_approve, {}),
    "reject": (services.claim_reject, {"reason": "Signs of use."}),
    "cancel": (services.claim_cancel, {"reason": "The customer withdrew it."}),
    "ship": (services.claim_mark_shipped, {"details": {"tracking_number": "1Z999"}}),
    "receive": (services.claim_record_receipt, {"details": {}}),
    "inspect": (services.claim_mark_inspected, {"outcome": "Full refund", "details": {}}),
    "reject_after_inspection": (services.claim_reject_after_inspection, {"reason": "Dropped: the housing is cracked."}),
    # Always the system's move (the refund succeeded), whoever calls: the service takes no actor.
    "refund": (
        lambda *, claim_id, by, **kwargs: services.claim_mark_refunded(claim_id=claim_id, **kwargs),
        {"details": {}},
    ),
    "expire": (services.claim_expire, {}),
    "replace": (services.claim_mark_replaced, {"details": {}}),
}
TABLE = {(t.source, t.action): t for t in states.TRANSITIONS}


def reachable_statuses() -> set[str]:
    """Every status a new claim can reach through the table."""
    seen, frontier = {ClaimStatus.REQUESTED.value}, [ClaimStatus.REQUESTED.value]
    while frontier:
        status = frontier.pop()
        for transition in states.TRANSITIONS:
            if transition.source == status and transition.target not in seen:
                seen.add(transition.target)
                frontier.append(transition.target)
    return seen


REACHABLE = reachable_statuses()
ACTORS = ["cs", "manager", "warehouse", "finance", "system"]


def may(transition, user) -> bool:
    """What the table lets ``user`` (a person or the system) take; the refund is the system's whoever calls."""
    if transition.action == "refund" or user is actors.SYSTEM:
        return transition.system
    return transition.permission is not None and user.has_perm(transition.permission)


def acting(transition, user):
    """Who the event names."""
    return actors.SYSTEM if transition.action == "refund" else user


def test_every_claim_service_is_in_the_state_table():
    assert set(SERVICES) == set(states.ACTIONS)


def approvable_claim(by, *, claim_type=ClaimType.NO_REASON, doa_reason="", electronic=False) -> Claim:
    """A claim on goods received yesterday (in every window), with a whole-package photo."""
    order = OrderFactory(received_on=timezone.localdate() - timedelta(days=1))
    line = OrderLineFactory(order=order, product__is_electronic=electronic)
    claim = services.claim_create(
        order=order,
        claim_type=claim_type,
        doa_reason=doa_reason,
        description="It does not work.",
        order_line_ids=[line.pk],
        by=by,
    )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(b"box", name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=3,
        original_name="box.jpg",
        shows_whole_package=True,
    )
    return claim


def claim_state(claim: Claim) -> tuple:
    """What a refused action must leave as it was."""
    fresh = Claim.objects.get(pk=claim.pk)
    return (
        fresh.status,
        fresh.rma_number,
        fresh.updated_at,
        fresh.is_returnless,
        list(ClaimEvent.objects.filter(claim=claim).values_list("pk", flat=True)),
        list(OutboundEmail.objects.filter(claim=claim).values_list("pk", flat=True)),
    )


# --- Every row of the table, and every pair that is not in it ------------------


@pytest.mark.django_db
@pytest.mark.parametrize("transition", states.TRANSITIONS, ids=lambda t: f"{t.source}-{t.action}")
def test_each_transition_in_the_table_moves_the_claim_and_records_one_event(cs, django_user_model, transition):
    # given a claim put in the transition's source status (a returnless one for a refund straight from approval)
    claim = approvable_claim(cs, claim_type=ClaimType.DOA, doa_reason=DoaReason.MISSING_ITEM)
    Claim.objects.filter(pk=claim.pk).update(status=transition.source, is_returnless=True)
    boss = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    by = boss if transition.permission else actors.SYSTEM
    events_before = set(ClaimEvent.objects.filter(claim=claim).values_list("pk", flat=True))
    service, kwargs = SERVICES[transition.action]

    # when the action is taken by someone holding every permission, or by the system where only it may
    service(claim_id=claim.pk, by=by, **kwargs)

    # then the claim is in the target status, with exactly one new event saying so and who
    assert Claim.objects.get(pk=claim.pk).status == transition.target
    new_events = ClaimEvent.objects.filter(claim=claim).exclude(pk__in=events_before)
    expected_by = acting(transition, by)
    assert [(e.action, e.from_status, e.to_status, e.actor, e.actor_kind) for e in new_events] == [
        (
            transition.action,
            transition.source,
            transition.target,
            None if expected_by is actors.SYSTEM else boss,
            actors.kind_of(expected_by),
        )
    ]


NOT_IN_TABLE = [
    pytest.param(status, action, id=f"{status}-{action}")
    for status in ClaimStatus.values
    for action in states.ACTIONS
    if (status, action) not in TABLE
]


@pytest.mark.django_db
@pytest.mark.parametrize(("status", "action"), NOT_IN_TABLE)
def test_an_action_not_in_the_table_is_an_invalid_transition_and_changes_nothing(manager, status, action):
    # given a claim in a status the action does not start from
    claim = approvable_claim(manager)
    Claim.objects.filter(pk=claim.pk).update(status=status)
    before = claim_state(claim)
    service, kwargs = SERVICES[action]

    # when a manager (who may take every triage action) tries it
    with pytest.raises(states.InvalidTransition) as refused:
        service(claim_id=claim.pk, by=manager, **kwargs)

    # then it is refused in words naming the claim's status, and nothing changed
    assert not isinstance(refused.value, services.ApprovalRefused)
    label = ClaimStatus(status).label.lower()
    assert str(refused.value).startswith(
        (f"A claim that is {label} cannot be ", f"This claim is already {label}; nothing was changed.")
    )
    assert claim_state(claim) == before


# What each role may do from each status: written out, not derived from the table.
OFFERED = {
    "cs": {
        "requested": ["ask_for_information", "resolve", "approve", "reject", "cancel"],
        "awaiting_customer": ["record_customer_answer", "resolve", "reject", "cancel"],
        "approved": ["cancel", "ship"],
        "shipped": ["cancel"],
    },
    "warehouse_user": {
        "approved": ["receive"],
        "shipped": ["receive", "inspect"],
        "inspected": ["reject_after_inspection", "replace"],
    },
    # The claim's refund is the system's (the refund succeeded): finance is offered no claim move.
    "finance_user": {},
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", OFFERED)
@pytest.mark.parametrize("status", ClaimStatus.values)
def test_each_role_is_offered_its_own_moves(request, role, status):
    user = request.getfixturevalue(role)

    offered = [t.action for t in states.allowed(status, user)]

    assert offered == OFFERED[role].get(status, [])


# --- Random walks ---------------------------------------------------------------


def build_machine(*, users: dict):
    """The machine class, closed over the users the test's fixtures made."""

    class ClaimLifecycle(RuleBasedStateMachine):
        @initialize(
            claim_type=st.sampled_from(ClaimType.values),
            doa_reason=st.sampled_from(DoaReason.values),
            electronic=st.booleans(),
        )
        def make_approvable_claim(self, claim_type, doa_reason, electronic):
            self.claim = approvable_claim(
                users["cs"],
                claim_type=claim_type,
                doa_reason=doa_reason if claim_type == ClaimType.DOA else "",
                electronic=electronic,
            )
            self.rma_number = None

        def snapshot(self):
            return claim_state(self.claim)

        @rule(action=st.sampled_from(states.ACTIONS), actor=st.sampled_from(ACTORS))
        def someone_takes(self, action, actor):
            self.attempt(action, actor)

        @rule(data=st.data(), actor=st.sampled_from(ACTORS), returnless=st.booleans())
        def someone_follows_the_table(self, data, actor, returnless):
            """A move the table allows from here: without it, random walks seldom get past approval."""
            status = Claim.objects.get(pk=self.claim.pk).status
            moves = [t.action for t in states.TRANSITIONS if t.source == status]
            if moves:
                action = data.draw(st.sampled_from(moves), label="action")
                self.attempt(action, actor, returnless=returnless and action == "approve")

        def attempt(self, action, actor, *, returnless=False):
            before = self.snapshot()
            status = before[0]
            transition = TABLE.get((status, action))
            service, kwargs = SERVICES[action]
            if returnless:
                kwargs = {"returnless_reason": "Nothing to send back."}
            user = users[actor]

            if transition is None:
                # not in the table: refused for a person to read, and nothing changes
                with pytest.raises(states.InvalidTransition) as refused:
                    service(claim_id=self.claim.pk, by=user, **kwargs)
                assert not isinstance(refused.value, services.ApprovalRefused)
                assert ClaimStatus(status).label.lower() in str(refused.value)
                assert self.snapshot() == before
                return
            if not may(transition, user):
                with pytest.raises(states.NotPermitted):
                    service(claim_id=self.claim.pk, by=user, **kwargs)
                assert self.snapshot() == before
                return
            if action == "refund" and status == ClaimStatus.APPROVED and not before[3]:
                # the table's approved→refunded row is for returnless claims only
                with pytest.raises(states.InvalidTransition, match="Only a returnless claim"):
                    service(claim_id=self.claim.pk, by=user, **kwargs)
                assert self.snapshot() == before
                return
            if returnless and self.claim.doa_reason != DoaReason.MISSING_ITEM:
                with pytest.raises(services.ApprovalRefused):
                    service(claim_id=self.claim.pk, by=user, **kwargs)
                assert self.snapshot() == before
                return

            service(claim_id=self.claim.pk, by=user, **kwargs)

            claim = Claim.objects.get(pk=self.claim.pk)
            assert claim.status == transition.target
            new_events = list(ClaimEvent.objects.filter(claim=claim).exclude(pk__in=before[4]))
            assert len(new_events) == 1
            event = new_events[0]
            by = acting(transition, user)
            assert (event.action, event.from_status, event.to_status, event.actor_kind) == (
                action,
                status,
                transition.target,
                actors.kind_of(by),
            )
            assert event.actor == (None if by is actors.SYSTEM else by)
            if action == "approve":
                assert claim.rma_number
                assert claim.is_returnless == returnless
                assert event.payload["rma_number"] == claim.rma_number
                self.rma_number = claim.rma_number

        @invariant()
        def status_is_reachable_through_the_table(self):
            assert Claim.objects.get(pk=self.claim.pk).status in REACHABLE

        @invariant()
        def rma_number_once_given_never_changes(self):
            assert Claim.objects.get(pk=self.claim.pk).rma_number == self.rma_number

        @invariant()
        def at_most_one_approval_and_rma_number(self):
            approvals = ClaimEvent.objects.filter(claim=self.claim, action="approve")
            assert approvals.count() <= 1
            assert approvals.count() == (1 if self.rma_number else 0)
            if self.rma_number:
                assert list(Claim.objects.filter(rma_number=self.rma_number).values_list("pk", flat=True)) == [
                    self.claim.pk
                ]

        @invariant()
        def events_chain_from_creation_to_the_current_status(self):
            """Every change has its event: each event starts where the previous one ended."""
            events = list(ClaimEvent.objects.filter(claim=self.claim).order_by("id"))
            assert (events[0].action, events[0].from_status) == ("create", "")
            for previous, event in itertools.pairwise(events):
                assert event.from_status == previous.to_status
                assert (event.from_status, event.action) in TABLE
            assert events[-1].to_status == Claim.objects.get(pk=self.claim.pk).status

    return ClaimLifecycle


@pytest.mark.django_db
def test_claim_lifecycle_follows_the_state_table(cs, manager, warehouse_user, finance_user):
    machine = build_machine(
        users={
            "cs": cs,
            "manager": manager,
            "warehouse": warehouse_user,
            "finance": finance_user,
            "system": actors.SYSTEM,
        }
    )

    run_state_machine_as_test(
        machine,
        settings=hypothesis_settings(
            max_examples=50,
            stateful_step_count=12,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
