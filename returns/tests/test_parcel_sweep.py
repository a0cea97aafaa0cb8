"""The parcel clock, with a frozen clock: an approved claim whose parcel never arrives must not just sit as "approved".

Published policy: the customer is reminded after 7 days, customer service told after 14, a claim still without
any parcel news is expired after 30 (docs/claims.md, "The parcel clock").
"""

import datetime as dt
import re
import time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import actors
from returns import links, services
from returns.models import (
    Claim,
    ClaimEvent,
    ClaimStatus,
    ClaimType,
    DoaReason,
    Evidence,
    EvidenceKind,
    OutboundEmail,
    PolicyVersion,
)
from returns.tests.factories import OrderFactory, OrderLineFactory
from shipments import services as shipment_services

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
APPROVED = dt.datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI)
DAY, SECOND = dt.timedelta(days=1), dt.timedelta(seconds=1)
NOTHING = {"reminded": 0, "escalated": 0, "expired": 0}


@pytest.fixture
def staff_emails(cs, manager):
    cs.email, manager.email = "agent@example.com", "boss@example.com"
    cs.save(update_fields=["email"])
    manager.save(update_fields=["email"])


def approved_claim(cs, *, at=APPROVED, submitted=None, returnless_reason="") -> Claim:
    """A claim made through the services and approved at ``at``: the parcel clock starts then."""
    submitted = submitted or at - dt.timedelta(hours=2)
    order = OrderFactory(received_on=submitted.date() - dt.timedelta(days=2))
    line = OrderLineFactory(order=order)
    with time_machine.travel(submitted, tick=False):
        claim = services.claim_create(
            order=order,
            claim_type=ClaimType.DOA,
            doa_reason=DoaReason.MISSING_ITEM if returnless_reason else DoaReason.QUALITY_ISSUE,
            description="The light flickers.",
            order_line_ids=[line.pk],
            by=cs,
            submitted_at=submitted,
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
    with time_machine.travel(at, tick=False):
        return services.claim_approve(claim_id=claim.pk, by=cs, returnless_reason=returnless_reason)


def sweep_at(moment) -> dict:
    with time_machine.travel(moment, tick=False):
        return services.parcel_sweep()


def parcel_events(claim) -> list[str]:
    return list(
        ClaimEvent.objects.filter(claim=claim, action__in=["parcel_reminded", "parcel_escalated", "expire"])
        .order_by("id")
        .values_list("action", flat=True)
    )


def ship(claim, at):
    """The customer enters the tracking number through the link: the claim is shipped, the clock still runs."""
    with time_machine.travel(at, tick=False):
        shipment_services.return_parcel_register(
            claim_id=claim.pk, by=actors.CUSTOMER, carrier="DHL", tracking_number="JD0146000099", sent_on=at.date()
        )


def receive(claim, by, at):
    with time_machine.travel(at, tick=False):
        result = shipment_services.parcel_receive(code=claim.rma_number, by=by, condition="intact")
    assert result.matched, result.message


# --- The clock -----------------------------------------------------------------------------------


def test_approval_starts_the_parcel_clock(cs):
    claim = approved_claim(cs)

    assert claim.approved_at == claim.awaiting_parcel_since == APPROVED
    assert (claim.parcel_reminded_at, claim.parcel_escalated_at) == (None, None)


def test_receiving_the_parcel_stops_the_clock_and_the_sweep_leaves_the_claim_alone(cs, warehouse_user, staff_emails):
    claim = approved_claim(cs)
    receive(claim, warehouse_user, APPROVED + 3 * DAY)
    claim.refresh_from_db()
    assert claim.awaiting_parcel_since is None and claim.status == ClaimStatus.SHIPPED

    for days in (7, 14, 30, 90):
        assert sweep_at(APPROVED + days * DAY) == NOTHING

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED
    assert parcel_events(claim) == []
    assert not OutboundEmail.objects.filter(template__in=["parcel_reminder", "parcel_overdue", "claim_expired"])


def test_a_returnless_claim_never_waits_for_a_parcel(cs, staff_emails):
    claim = approved_claim(cs, returnless_reason="The second plate was never delivered.")
    assert claim.is_returnless and claim.approved_at == APPROVED and claim.awaiting_parcel_since is None

    for days in (7, 14, 30):
        assert sweep_at(APPROVED + days * DAY) == NOTHING

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert parcel_events(claim) == []


def test_cancelling_stops_the_clock(cs, staff_emails):
    claim = approved_claim(cs)
    with time_machine.travel(APPROVED + 2 * DAY, tick=False):
        services.claim_cancel(claim_id=claim.pk, by=cs, reason="The customer keeps it.")

    assert sweep_at(APPROVED + 31 * DAY) == NOTHING
    assert Claim.objects.get(pk=claim.pk).awaiting_parcel_since is None


# --- The customer's reminder ----------------------------------------------------------------------


def test_no_reminder_a_second_before_the_reminder_days(cs, staff_emails):
    claim = approved_claim(cs)

    assert sweep_at(APPROVED + 7 * DAY - SECOND) == NOTHING

    assert parcel_events(claim) == []
    assert not OutboundEmail.objects.filter(template="parcel_reminder").exists()


def test_the_customer_is_reminded_at_the_reminder_days_with_their_tracking_link(cs, staff_emails):
    claim = approved_claim(cs)

    report = sweep_at(APPROVED + 7 * DAY)

    assert report == {"reminded": 1, "escalated": 0, "expired": 0}
    claim.refresh_from_db()
    assert claim.parcel_reminded_at == APPROVED + 7 * DAY
    assert claim.parcel_escalated_at is None and claim.status == ClaimStatus.APPROVED
    (email,) = OutboundEmail.objects.filter(template="parcel_reminder")
    assert (email.claim, email.to) == (claim, claim.customer_email)
    assert email.subject == f"Reminder: we are waiting for your return parcel ({claim.rma_number})"
    (url,) = re.findall(r"https?://\S+/returns/tracking/\S+/", email.body_text)
    assert f'href="{url}"' in email.body_html
    token = url.rstrip("/").rsplit("/", 1)[1]
    with time_machine.travel(APPROVED + 7 * DAY, tick=False):
        assert links.claim_from_token(token) == claim  # the link works and names this claim
    for body in (email.body_text, email.body_html):
        assert "7 days ago" in body and claim.rma_number in body
    (event,) = ClaimEvent.objects.filter(claim=claim, action="parcel_reminded")
    assert (event.actor, event.actor_kind, event.from_status, event.to_status) == (
        None,
        "system",
        "approved",
        "approved",
    )
    assert event.payload["days_waiting"] == 7


def test_a_shipped_claim_is_not_reminded(cs, staff_emails):
    claim = approved_claim(cs)
    ship(claim, APPROVED + 2 * DAY)

    assert sweep_at(APPROVED + 8 * DAY) == NOTHING

    assert parcel_events(claim) == []


# --- Customer service's digest --------------------------------------------------------------------


def test_no_digest_a_second_before_the_escalation_days(cs, staff_emails):
    claim = approved_claim(cs)
    sweep_at(APPROVED + 7 * DAY)

    assert sweep_at(APPROVED + 14 * DAY - SECOND) == NOTHING

    assert parcel_events(claim) == ["parcel_reminded"]
    assert not OutboundEmail.objects.filter(template="parcel_overdue").exists()


def test_customer_service_gets_one_digest_at_the_escalation_days(cs, staff_emails, finance_user):
    finance_user.email = "payer@example.com"
    finance_user.save(update_fields=["email"])
    waiting, shipped = approved_claim(cs), approved_claim(cs, at=APPROVED - 3 * DAY)
    ship(shipped, APPROVED)
    sweep_at(APPROVED + 7 * DAY)

    report = sweep_at(APPROVED + 14 * DAY)

    assert report == {"reminded": 0, "escalated": 2, "expired": 0}
    (digest,) = OutboundEmail.objects.filter(template="parcel_overdue")
    assert digest.to == "agent@example.com"  # customer service only
    assert digest.claim is None
    assert digest.subject == "2 approved claim(s) whose return parcel has not arrived"
    for claim, days in ((waiting, 14), (shipped, 17)):
        assert f"{claim.rma_number} · order {claim.order_number}" in digest.body_text
        assert f"waiting {days} days" in digest.body_text
        assert f"/admin/returns/claim/{claim.pk}/change/" in digest.body_text
        assert f'/admin/returns/claim/{claim.pk}/change/">{claim.rma_number}</a>' in digest.body_html
        event = ClaimEvent.objects.get(claim=claim, action="parcel_escalated")
        assert (event.actor_kind, event.payload["days_waiting"]) == ("system", days)
        assert Claim.objects.get(pk=claim.pk).parcel_escalated_at == APPROVED + 14 * DAY
    assert "no tracking number given" in digest.body_text
    assert "the parcel is on its way, not received" in digest.body_text


# --- Expiry ---------------------------------------------------------------------------------------


def test_no_expiry_a_second_before_the_expiry_days(cs, staff_emails):
    claim = approved_claim(cs)

    sweep_at(APPROVED + 30 * DAY - SECOND)

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED
    assert parcel_events(claim) == ["parcel_reminded", "parcel_escalated"]


def test_a_claim_with_no_parcel_news_expires_at_the_expiry_days(cs, staff_emails):
    claim = approved_claim(cs)
    sweep_at(APPROVED + 7 * DAY)
    sweep_at(APPROVED + 14 * DAY)

    report = sweep_at(APPROVED + 30 * DAY)

    assert report == {"reminded": 0, "escalated": 0, "expired": 1}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CANCELLED
    assert claim.awaiting_parcel_since is None
    event = ClaimEvent.objects.get(claim=claim, action="expire")
    assert (event.actor, event.actor_kind, event.from_status, event.to_status) == (
        None,
        "system",
        "approved",
        "cancelled",
    )
    assert event.payload["expiry_days"] == 30
    (email,) = OutboundEmail.objects.filter(template="claim_expired")
    assert (email.claim, email.to) == (claim, claim.customer_email)
    assert "after 30 days" in email.body_text and claim.rma_number in email.subject


def test_a_claim_first_swept_after_its_expiry_is_expired_without_a_reminder_or_a_digest(cs, staff_emails):
    """Beat was down for a month: the customer gets the closing email, not a reminder beside it."""
    claim = approved_claim(cs)

    assert sweep_at(APPROVED + 40 * DAY) == {"reminded": 0, "escalated": 0, "expired": 1}

    assert parcel_events(claim) == ["expire"]
    templates = list(OutboundEmail.objects.order_by("id").values_list("template", flat=True))
    assert templates == ["claim_received", "claim_approved", "claim_expired"]


def test_a_shipped_claim_is_escalated_but_never_expired(cs, staff_emails):
    claim = approved_claim(cs)
    ship(claim, APPROVED + 5 * DAY)

    reports = [sweep_at(APPROVED + days * DAY) for days in (7, 14, 30, 60, 120)]

    assert reports == [NOTHING, {"reminded": 0, "escalated": 1, "expired": 0}, NOTHING, NOTHING, NOTHING]
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED
    assert claim.awaiting_parcel_since == APPROVED
    assert parcel_events(claim) == ["parcel_escalated"]
    assert not OutboundEmail.objects.filter(template="claim_expired").exists()


def test_a_late_parcel_is_still_received_after_the_escalation(cs, warehouse_user, staff_emails):
    claim = approved_claim(cs)
    ship(claim, APPROVED + 5 * DAY)
    sweep_at(APPROVED + 14 * DAY)

    receive(claim, warehouse_user, APPROVED + 40 * DAY)

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SHIPPED and claim.awaiting_parcel_since is None
    assert sweep_at(APPROVED + 41 * DAY) == NOTHING


# --- Idempotency ----------------------------------------------------------------------------------


def test_running_the_sweep_twice_sends_nothing_twice(cs, staff_emails):
    claim = approved_claim(cs)

    for days in (7, 7, 14, 14, 30, 30):
        sweep_at(APPROVED + days * DAY)

    assert parcel_events(claim) == ["parcel_reminded", "parcel_escalated", "expire"]
    templates = list(OutboundEmail.objects.order_by("id").values_list("template", flat=True))
    assert templates == ["claim_received", "claim_approved", "parcel_reminder", "parcel_overdue", "claim_expired"]


# --- Policy versions ------------------------------------------------------------------------------


def test_a_claim_under_an_older_policy_version_follows_its_own_days(cs, staff_emails):
    older = PolicyVersion.objects.create(
        effective_from=dt.datetime(2026, 1, 1, tzinfo=SHANGHAI),
        parcel_reminder_days=3,
        parcel_escalation_days=5,
        parcel_expiry_days=10,
        note="shorter parcel days",
    )
    current = PolicyVersion.objects.create(effective_from=dt.datetime(2026, 10, 20, tzinfo=SHANGHAI))
    old = approved_claim(cs, submitted=dt.datetime(2026, 10, 10, 9, 0, tzinfo=SHANGHAI))
    new = approved_claim(cs)
    assert (old.policy_version, new.policy_version) == (older, current)

    def events():
        return parcel_events(old), parcel_events(new)

    assert sweep_at(APPROVED + 3 * DAY - SECOND) == NOTHING
    assert sweep_at(APPROVED + 3 * DAY) == {"reminded": 1, "escalated": 0, "expired": 0}
    assert events() == (["parcel_reminded"], [])
    assert sweep_at(APPROVED + 5 * DAY) == {"reminded": 0, "escalated": 1, "expired": 0}
    assert sweep_at(APPROVED + 7 * DAY) == {"reminded": 1, "escalated": 0, "expired": 0}
    assert events() == (["parcel_reminded", "parcel_escalated"], ["parcel_reminded"])
    assert sweep_at(APPROVED + 10 * DAY) == {"reminded": 0, "escalated": 0, "expired": 1}
    assert events() == (["parcel_reminded", "parcel_escalated", "expire"], ["parcel_reminded"])
    assert "after 10 days" in OutboundEmail.objects.get(template="claim_expired").body_text
    assert Claim.objects.get(pk=new.pk).status == ClaimStatus.APPROVED


# --- An indexed range per version -----------------------------------------------------------------


def test_the_sweep_selects_waiting_claims_through_the_partial_index(cs, staff_emails):
    for n in range(3):
        approved_claim(cs, at=APPROVED - n * DAY)
    order = OrderFactory()
    policy = PolicyVersion.objects.latest()
    Claim.objects.bulk_create(  # answered long ago: no parcel clock
        Claim(
            order=order,
            order_number=order.number,
            customer_email=order.customer_email,
            claim_type=ClaimType.NO_REASON,
            description="Not for me.",
            policy_version=policy,
            submitted_at=APPROVED - 90 * DAY,
            status=ClaimStatus.REFUNDED,
        )
        for _ in range(300)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE returns_claim")  # the planner knows most claims share the policy version
    with time_machine.travel(APPROVED + 8 * DAY, tick=False), CaptureQueriesContext(connection) as captured:
        assert services.parcel_sweep()["reminded"] == 3
    selects = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and "awaiting_parcel_since" in q["sql"] and "returns_claim" in q["sql"]
    ]
    assert len(selects) == 2  # the versions present, then one range for the one version
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in selects:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan on returns_claim" not in plan, plan
            assert "claim_awaiting_parcel" in plan, plan


# --- Two sweeps at once ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_remind_each_claim_once(cs, staff_emails, monkeypatch):
    from core.testing import at_once

    claims = [approved_claim(cs) for _ in range(3)]
    tracking_url = links.tracking_url

    def slow(claim):  # hold the rows' locks a little, so the other sweep runs into them
        time.sleep(0.2)
        return tracking_url(claim)

    monkeypatch.setattr(links, "tracking_url", slow)
    moment = APPROVED + 7 * DAY

    results = at_once(lambda: services.parcel_sweep(now=moment), lambda: services.parcel_sweep(now=moment))

    assert [outcome for outcome, _ in results] == ["ok", "ok"], results
    assert sum(report["reminded"] for _, report in results) == 3  # split between the two, or all in one
    for claim in claims:
        assert parcel_events(claim) == ["parcel_reminded"]
    assert OutboundEmail.objects.filter(template="parcel_reminder").count() == 3


# --- The claim list -------------------------------------------------------------------------------


def claim_list(client, **params):
    with time_machine.travel(APPROVED + 15 * DAY, tick=False):
        return client.get("/admin/returns/claim/", params)


def test_the_claim_list_filters_claims_waiting_for_their_parcel(client, cs, warehouse_user):
    fresh = approved_claim(cs, at=APPROVED + 13 * DAY)  # 2 days
    week = approved_claim(cs, at=APPROVED + 8 * DAY)  # exactly 7 days
    late = approved_claim(cs, at=APPROVED)  # 15 days
    shipped = approved_claim(cs, at=APPROVED - 5 * DAY)  # 20 days, tracking given
    ship(shipped, APPROVED)
    received = approved_claim(cs, at=APPROVED - DAY)
    receive(received, warehouse_user, APPROVED + 2 * DAY)
    approved_claim(cs, at=APPROVED, returnless_reason="Never delivered.")
    client.force_login(cs)

    def listed(value):
        return set(claim_list(client, parcel=value).context["cl"].result_list)

    assert listed("any") == {fresh, week, late, shipped}
    assert listed("reminded") == {week, late, shipped}
    assert listed("escalated") == {late, shipped}
    html = claim_list(client).content.decode()
    assert "waiting for the parcel" in html
    assert 'href="?parcel=reminded"' in html and "over 7 days (customer reminded)" in html
    assert 'href="?parcel=escalated"' in html and "over 14 days (customer service told)" in html


def test_the_claim_list_shows_the_days_waiting_for_the_parcel(client, cs):
    late = approved_claim(cs, at=APPROVED)
    cancelled = approved_claim(cs, at=APPROVED + 14 * DAY)
    with time_machine.travel(APPROVED + 14 * DAY, tick=False):
        services.claim_cancel(claim_id=cancelled.pk, by=cs, reason="Kept it.")
    client.force_login(cs)

    html = claim_list(client).content.decode()

    # the theme adds its own classes after ``column-<name>`` / ``field-<name>``
    assert re.search(r'<th class="[^"]*\bcolumn-waiting_for_parcel\b', html)
    rows = re.findall(r'<th class="field-reference[ "][^>]*><a href="[^"]*"[^>]*>([^<]+)</a>', html)
    cells = re.findall(r'<td class="field-waiting_for_parcel[ "][^>]*>([^<]*)</td>', html)
    assert dict(zip(rows, cells, strict=True)) == {late.rma_number: "15 days", cancelled.rma_number: "-"}


def test_the_parcel_filters_use_the_partial_index(cs):
    from django.contrib.admin.sites import site
    from django.test import RequestFactory

    approved_claim(cs)
    order = OrderFactory()
    policy = PolicyVersion.objects.latest()
    Claim.objects.bulk_create(  # closed long ago: no parcel clock
        Claim(
            order=order,
            order_number=order.number,
            customer_email=order.customer_email,
            claim_type=ClaimType.NO_REASON,
            description="Not for me.",
            policy_version=policy,
            submitted_at=APPROVED - 90 * DAY,
            status=ClaimStatus.REFUNDED,
        )
        for _ in range(2000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE returns_claim")
    for value in ("any", "reminded", "escalated"):
        request = RequestFactory().get("/admin/returns/claim/", {"parcel": value})
        request.user = cs
        queryset = site._registry[Claim].get_changelist_instance(request).queryset
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            sql, params = queryset.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "claim_awaiting_parcel" in plan, plan
