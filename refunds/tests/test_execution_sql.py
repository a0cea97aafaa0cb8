"""The execution's common path in SQL (``refunds/execution.py``) against the ORM path it shortcuts.

Each case runs twin refunds: one through ``refunds.execution``, the other with both SQL steps refused
(returning None, as on SQLite or when the refund is not in the expected state), so ``refunds.services``
executes it through its ORM path. Every row the two write is compared, with what differs by nature
(ids, provider references, the customer's name, numbers and link) put in words first.
"""

import datetime
import re
import threading

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from core import actors
from inspections.services import inspection_propose_refund
from refunds import execution, services
from refunds.models import Refund, RefundAction, RefundEvent, RefundStatus
from refunds.tests.conftest import inspected_claim, returnless_claim
from refunds.tests.test_services import approve_without_running, stripe_refund
from returns import links, notifications
from returns.models import Claim, ClaimStatus, OutboundEmail

pytestmark = pytest.mark.django_db


def status_link_pattern() -> re.Pattern:
    """A claim's status link, its signed token captured."""
    before, after = (settings.SITE_URL.rstrip("/") + reverse("portal-claim", args=["TOKEN"])).split("TOKEN")
    return re.compile(re.escape(before) + r"([\w:-]+)" + re.escape(after))


def inspected_with_deduction(inspector, fake):
    pi = fake.add_payment_intent(100_000, "usd")
    claim = inspected_claim(
        inspector,
        ["full_refund", "reduced_refund"],
        payment_reference=pi,
        deduction_amount="5.00",
        deduction_reason="Scratch on the lens hood",
    )
    return inspection_propose_refund(claim_id=claim.pk, by=inspector)


def returnless(inspector, fake):
    from refunds.services import refund_propose_returnless

    claim = returnless_claim(payment_reference=fake.add_payment_intent(100_000, "usd"))
    return refund_propose_returnless(claim_id=claim.pk, by=actors.SYSTEM)


def with_earlier_emails(refund):
    """Our emails on the claim before the refund's: the refund's answers the last (its thread headers)."""
    claim = Claim.objects.select_related("order").get(pk=refund.claim_id)
    for template in ("claim_received", "claim_inspected"):
        with transaction.atomic():
            notifications.email_customer(claim=claim, template=template)
    return refund


def cancelled_meanwhile(refund):
    Claim.objects.filter(pk=refund.claim_id).update(status=ClaimStatus.CANCELLED)
    return refund


def rows(refund_id: int) -> dict:
    refund = Refund.objects.get(pk=refund_id)
    claim = Claim.objects.get(pk=refund.claim_id)
    return {
        **{f"refund.{f.attname}": getattr(refund, f.attname) for f in Refund._meta.concrete_fields},
        **{f"claim.{f.attname}": getattr(claim, f.attname) for f in Claim._meta.concrete_fields},
    }


def changes(before: dict, after: dict) -> dict:
    """The columns that changed; new times and references as their kind (they differ between twins)."""
    return {
        column: type(value).__name__ if isinstance(value, datetime.datetime) or column.endswith("_reference") else value
        for column, value in after.items()
        if before[column] != value
    }


def snapshot(refund_id: int) -> dict:
    """Every row the success wrote, with what differs between twins replaced by words."""
    refund = Refund.objects.get(pk=refund_id)
    claim = Claim.objects.select_related("order").get(pk=refund.claim_id)
    started = refund.events.get(action="start").created_at
    words = {
        notifications.reply_address(claim): "<reply address>",
        claim.rma_number or "<no rma>": "<rma>",
        claim.order.customer_name: "<name>",
        claim.customer_email: "<email>",
        claim.order_number: "<order>",
        # Each twin's products are its own (SKU and name in the lines' descriptions).
        **{line.description: f"<line {i}>" for i, line in enumerate(refund.lines.order_by("id"))},
    }
    own = {"refund_id": "<refund>", "provider_reference": "<provider reference>"}

    def plain(value):
        """``value``'s text, the twin's own strings replaced by words (the longest first), and each status
        link (signed with the time it was written) checked to open this claim."""
        text = status_link_pattern().sub(
            lambda match: "<status link>" * (links.claim_from_status_token(match[1]) == claim), str(value)
        )
        for specific in sorted(words, key=len, reverse=True):
            text = text.replace(specific, words[specific])
        return text

    def event(e):
        payload = sorted((key, own.get(key, value)) for key, value in e.payload.items())
        return plain([e.action, e.from_status, e.to_status, e.actor_kind, e.actor_id, payload])

    emails = list(OutboundEmail.objects.filter(claim=claim).order_by("id"))
    refund_email = emails[-1]
    earlier = emails[-2] if len(emails) > 1 else None
    return {
        "refund": [
            refund.status,
            refund.provider_reference.startswith("re_"),
            refund.provider_status,
            refund.failure_reason,
            refund.attempts,
            refund.processing_started_at,
            refund.succeeded_at is not None,
        ],
        # What the execution wrote: from its start on.
        "refund events": [event(e) for e in refund.events.filter(created_at__gte=started).order_by("id")],
        "claim": claim.status,
        "claim events": [event(e) for e in claim.events.filter(created_at__gte=started).order_by("id")],
        "email": plain(
            [
                refund_email.template,
                refund_email.to,
                refund_email.subject,
                refund_email.body_text,
                refund_email.body_html,
                refund_email.status,
                refund_email.attempts,
                refund_email.reply_to,
                refund_email.written_by_id,
            ]
        ),
        "email answers": [
            refund_email.in_reply_to == (earlier.message_id if earlier else ""),
            refund_email.references.split()[-1:] == ([earlier.message_id] if earlier else []),
            refund_email.message_id not in ("", getattr(earlier, "message_id", "")),
        ],
    }


@pytest.mark.parametrize(
    "make, prepare",
    [
        (inspected_with_deduction, lambda refund: refund),
        (inspected_with_deduction, with_earlier_emails),
        (returnless, lambda refund: refund),
        (inspected_with_deduction, cancelled_meanwhile),
    ],
    ids=["inspected, a deduction", "an earlier email to answer", "returnless", "claim cancelled meanwhile"],
)
def test_the_sql_path_writes_what_the_orm_path_writes(
    make, prepare, inspector, finance, stripe_settings, stripe_fake, monkeypatch
):
    by_sql, by_orm = (prepare(make(inspector, stripe_fake)) for _ in range(2))
    for refund in (by_sql, by_orm):
        approve_without_running(refund, finance)

    rows_before = {refund.pk: rows(refund.pk) for refund in (by_sql, by_orm)}

    assert services.refund_execute(refund_id=by_sql.pk) == "succeeded"
    with monkeypatch.context() as patch:
        patch.setattr(execution, "start", lambda *args, **kwargs: None)
        patch.setattr(execution, "succeed", lambda *args, **kwargs: None)
        assert services.refund_execute(refund_id=by_orm.pk) == "succeeded"

    sql, orm = snapshot(by_sql.pk), snapshot(by_orm.pk)
    assert sql == orm
    # Every column of the refund and the claim that changed, changed alike (a rule one path applies and
    # the other misses, e.g. a clock the claim's move sets, shows here).
    assert changes(rows_before[by_sql.pk], rows(by_sql.pk)) == changes(rows_before[by_orm.pk], rows(by_orm.pk))
    # Not two wrongs alike: what the success must have written.
    assert sql["refund"] == ["succeeded", True, "succeeded", "", 1, None, True]
    assert [event[: event.index(",")] for event in sql["refund events"]][:2] == ["['start'", "['succeed'"]
    assert sql["email answers"] == [True, True, True] and "<status link>" in sql["email"]
    assert "Scratch on the lens hood" in sql["email"] or make is returnless
    if prepare is cancelled_meanwhile:
        assert sql["claim"] == ClaimStatus.CANCELLED
        assert RefundEvent.objects.filter(refund=by_sql, action=RefundAction.CLAIM_NOT_MARKED_REFUNDED).exists()
    else:
        assert sql["claim"] == ClaimStatus.REFUNDED


def test_an_approved_claim_with_a_return_parcel_is_not_refunded_before_its_inspection(
    inspector, finance, stripe_settings, stripe_fake
):
    """``claim_mark_refunded``'s own rule, kept by the statement: only a returnless claim skips the parcel."""
    refund = inspected_with_deduction(inspector, stripe_fake)
    approve_without_running(refund, finance)
    Claim.objects.filter(pk=refund.claim_id).update(status=ClaimStatus.APPROVED, is_returnless=False)

    assert services.refund_execute(refund_id=refund.pk) == "succeeded"

    assert Claim.objects.get(pk=refund.claim_id).status == ClaimStatus.APPROVED
    assert RefundEvent.objects.filter(refund=refund, action=RefundAction.CLAIM_NOT_MARKED_REFUNDED).exists()


def test_the_start_takes_an_approved_refund_once_and_writes_its_event(inspector, finance, stripe_settings, stripe_fake):
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    now = timezone.now()

    started = execution.start(refund.pk, now)

    assert (started.attempt, started.execution_round, started.total) == (1, 1, refund.total)
    assert started.rma_number == refund.claim.rma_number and started.key == str(refund.key)
    refund.refresh_from_db()
    assert (refund.status, refund.attempts, refund.processing_started_at) == (RefundStatus.PROCESSING, 1, now)
    event = refund.events.get(action="start")
    assert (event.from_status, event.to_status, event.actor_kind, event.actor_id) == (
        "approved",
        "processing",
        "system",
        None,
    )
    assert event.payload == {"attempt": 1, "round": 1} and event.created_at == now
    assert execution.start(refund.pk, now) is None  # not approved any more: nothing moves
    assert refund.events.filter(action="start").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_success_recorded_while_another_holds_the_refund_waits_and_is_not_recorded_twice(
    inspector, finance, stripe_settings, stripe_fake, mailoutbox
):
    """Two attempts got the provider's answer (a resumed one and the one thought dead): the second's
    statement waits for the first's transaction, sees the refund succeeded and changes nothing."""
    refund, _ = stripe_refund(inspector, stripe_fake)
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.APPROVED, approved_by=finance)
    execution.start(refund.pk, timezone.now())
    holding = threading.Event()
    second = []

    def record_second():
        holding.wait(10)
        try:
            result = services.providers.RefundResult(status="succeeded", reference="re_second")
            second.append(services._record_result(refund.pk, 1, result))
        finally:
            connection.close()

    thread = threading.Thread(target=record_second)
    thread.start()
    with transaction.atomic():
        first = execution.succeed(
            refund.pk, timezone.now(), reference="re_first", provider_status="succeeded", payload={"attempt": 1}
        )
        holding.set()
        thread.join(0.5)
        assert thread.is_alive() and second == []  # waiting for this transaction's row lock
    thread.join(10)

    assert first.claim_moved and second == ["already_succeeded"]
    refund.refresh_from_db()
    assert (refund.status, refund.provider_reference) == (RefundStatus.SUCCEEDED, "re_first")
    assert refund.events.filter(action="succeed").count() == 1
    assert Claim.objects.get(pk=refund.claim_id).events.filter(action="refund").count() == 1
    assert OutboundEmail.objects.filter(claim_id=refund.claim_id, template="refund_sent").count() == 0
    assert not mailoutbox  # the first ran its statement alone here: no email written


def test_on_another_database_than_postgresql_the_orm_path_runs(
    inspector, finance, stripe_settings, stripe_fake, monkeypatch, django_assert_num_queries
):
    """The statements are PostgreSQL's; the embedded default (SQLite, ``scripts/run.sh``'s demo executes
    refunds) must not reach them."""
    refund, _ = stripe_refund(inspector, stripe_fake)
    approve_without_running(refund, finance)
    monkeypatch.setattr(connection, "vendor", "sqlite")

    with django_assert_num_queries(0):
        assert execution.start(refund.pk, timezone.now()) is None
        assert (
            execution.succeed(refund.pk, timezone.now(), reference="re_1", provider_status="succeeded", payload={})
            is None
        )
