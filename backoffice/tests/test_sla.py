"""Closure days that move the running refund clocks, and the manager's weekly SLA page."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from backoffice import sla
from inspections.services import inspection_propose_refund
from refunds import services as refund_services
from refunds.models import Refund, RefundStatus
from refunds.tests.conftest import finance_user, inspected_claim
from returns.models import (
    Claim,
    ClaimAction,
    ClaimEvent,
    ClosureDay,
    ClosureDayAction,
    ClosureDayEvent,
    PolicyVersion,
)
from returns.tests.factories import ROLES, ClaimFactory, staff_user

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY_EVENING = dt.datetime(2026, 11, 20, 21, 45, tzinfo=SHANGHAI)


def end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.max, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def china_calendar(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.SLA_HOLIDAYS_COUNTRY, settings.SLA_HOLIDAYS_SUBDIVISION = "CN", ""


@pytest.fixture
def manager(django_user_model):
    return staff_user(django_user_model, "boss", ROLES["manager"])


@pytest.fixture
def cs(django_user_model):
    return staff_user(django_user_model, "agent", ROLES["cs"])


@pytest.fixture
def finance(django_user_model):
    return finance_user(django_user_model, "payer")


@pytest.fixture
def inspector(django_user_model):
    return staff_user(django_user_model, "picker", ROLES["warehouse"])


def approved_refund(inspector, finance, at=FRIDAY_EVENING) -> Refund:
    """Inspected (so proposed) and approved at ``at``: the refund clock starts at the inspection."""
    claim = inspected_claim(inspector, ["full_refund"])
    with time_machine.travel(at, tick=False):
        refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
        return refund_services.refund_approve(refund_id=refund.pk, by=finance)


def deadlines(refund: Refund) -> tuple[dt.datetime, dt.datetime]:
    refund.refresh_from_db()
    return refund.refund_target_at, refund.refund_due_at


# --- Closure days -----------------------------------------------------------------------------


def test_a_closure_day_added_later_moves_open_refunds_by_a_day_and_leaves_succeeded_ones(
    client, manager, inspector, finance
):
    running, paid = approved_refund(inspector, finance), approved_refund(inspector, finance)
    Refund.objects.filter(pk=paid.pk).update(status=RefundStatus.SUCCEEDED, succeeded_at=FRIDAY_EVENING)
    before = (end_of(dt.date(2026, 11, 27)), end_of(dt.date(2026, 12, 1)))
    assert deadlines(running) == deadlines(paid) == before
    client.force_login(manager)

    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI), tick=False):
        response = client.post(
            reverse("admin:returns_closureday_add"), {"day": "2026-11-25", "reason": "Stock-taking"}, follow=True
        )

    assert response.status_code == 200
    assert ClosureDay.objects.filter(day=dt.date(2026, 11, 25)).exists()
    assert deadlines(running) == (end_of(dt.date(2026, 11, 30)), end_of(dt.date(2026, 12, 2)))
    assert deadlines(paid) == before
    assert "The deadlines of 1 open refund(s) were recomputed." in response.content.decode()


def test_deleting_a_closure_day_moves_the_deadlines_back(client, manager, inspector, finance):
    day = ClosureDay.objects.create(day=dt.date(2026, 11, 25), reason="Stock-taking")
    running = approved_refund(inspector, finance)
    assert deadlines(running)[1] == end_of(dt.date(2026, 12, 2))
    client.force_login(manager)

    response = client.post(reverse("admin:returns_closureday_delete", args=[day.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not ClosureDay.objects.exists()
    assert deadlines(running) == (end_of(dt.date(2026, 11, 27)), end_of(dt.date(2026, 12, 1)))


def test_deleting_closure_days_in_bulk_moves_the_deadlines_back(client, manager, inspector, finance):
    days = [ClosureDay.objects.create(day=dt.date(2026, 11, d), reason="Inventory") for d in (24, 25)]
    running = approved_refund(inspector, finance)
    assert deadlines(running)[1] == end_of(dt.date(2026, 12, 3))
    client.force_login(manager)

    client.post(
        reverse("admin:returns_closureday_changelist"),
        {"action": "delete_selected", "_selected_action": [d.pk for d in days], "post": "yes"},
    )

    assert not ClosureDay.objects.exists()
    assert deadlines(running)[1] == end_of(dt.date(2026, 12, 1))


def test_only_managers_change_closure_days(cs, inspector, finance):
    running = approved_refund(inspector, finance)
    before = deadlines(running)

    with pytest.raises(PermissionDenied):
        sla.closure_day_save(closure_day=ClosureDay(day=dt.date(2026, 11, 25), reason="Party"), by=cs)

    assert not ClosureDay.objects.exists()
    assert deadlines(running) == before


# --- The calendar's history --------------------------------------------------------------------


def calendar_events():
    return list(ClosureDayEvent.objects.order_by("id"))


def test_adding_a_closure_day_records_who_added_it_and_how_many_deadlines_moved(manager, inspector, finance):
    approved_refund(inspector, finance)

    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI), tick=False):
        moved = sla.closure_day_save(
            closure_day=ClosureDay(day=dt.date(2026, 11, 25), reason="Stock-taking"), by=manager
        )

    [event] = calendar_events()
    assert (event.action, event.actor, event.closure_day.day) == (
        ClosureDayAction.ADDED,
        manager,
        dt.date(2026, 11, 25),
    )
    assert event.payload == {"day": "2026-11-25", "reason": "Stock-taking", "refunds_moved": moved} and moved == 1
    assert (
        str(event.describe()) == "Closure day 25 Nov 2026 (Stock-taking) added; the deadlines of 1 open refund moved."
    )


def test_changing_a_closure_day_records_the_old_and_new_day_and_reason(manager, inspector, finance):
    day = ClosureDay.objects.create(day=dt.date(2026, 11, 25), reason="Stock-taking")
    approved_refund(inspector, finance)
    day = ClosureDay.objects.get(pk=day.pk)
    day.day, day.reason = dt.date(2026, 11, 26), "Inventory"

    with time_machine.travel(dt.datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI), tick=False):
        sla.closure_day_save(closure_day=day, by=manager)

    [event] = calendar_events()
    assert (event.action, event.actor, event.closure_day_id) == (ClosureDayAction.CHANGED, manager, day.pk)
    assert event.payload == {
        "from": {"day": "2026-11-25", "reason": "Stock-taking"},
        "to": {"day": "2026-11-26", "reason": "Inventory"},
        "refunds_moved": 0,  # Wednesday or Thursday: the running refund's deadlines are the same
    }


def test_saving_a_closure_day_unchanged_records_nothing(manager):
    day = ClosureDay.objects.create(day=dt.date(2026, 11, 25), reason="Stock-taking")

    sla.closure_day_save(closure_day=ClosureDay.objects.get(pk=day.pk), by=manager)

    assert calendar_events() == []


def test_deleting_closure_days_records_each_day_with_its_reason(client, manager, inspector, finance):
    days = [ClosureDay.objects.create(day=dt.date(2026, 11, d), reason="Inventory") for d in (24, 25)]
    approved_refund(inspector, finance)
    client.force_login(manager)

    client.post(
        reverse("admin:returns_closureday_changelist"),
        {"action": "delete_selected", "_selected_action": [d.pk for d in days], "post": "yes"},
    )

    first, second = calendar_events()
    assert {first.action, second.action} == {ClosureDayAction.DELETED} and first.actor == second.actor == manager
    assert first.closure_day is None  # the row is gone; the payload names the day
    assert first.payload == {
        "day": "2026-11-24",
        "reason": "Inventory",
        "refunds_moved": 1,
        "deleted_with": ["2026-11-25"],
    }
    assert str(second.describe()) == (
        "Closure day 25 Nov 2026 (Inventory) deleted, with 24 Nov 2026; the deadlines of 1 open refund moved."
    )


def test_a_failed_recompute_leaves_neither_the_change_nor_its_event(manager, inspector, finance, monkeypatch):
    approved_refund(inspector, finance)

    def broken(**kwargs):
        raise RuntimeError("the recompute failed")

    monkeypatch.setattr(sla, "refund_deadlines_recompute", broken)
    with pytest.raises(RuntimeError):
        sla.closure_day_save(closure_day=ClosureDay(day=dt.date(2026, 11, 25), reason="Stock-taking"), by=manager)

    assert not ClosureDay.objects.exists()
    assert calendar_events() == []


def test_managers_read_who_changed_the_calendar(client, manager):
    sla.closure_day_save(closure_day=ClosureDay(day=dt.date(2026, 11, 25), reason="Stock-taking"), by=manager)
    client.force_login(manager)

    response = client.get(reverse("admin:returns_closuredayevent_changelist"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Closure day 25 Nov 2026 (Stock-taking) added; no open refund's deadline moved." in page
    assert ">boss<" in page


def test_only_managers_read_the_calendars_history(client, cs):
    client.force_login(cs)

    assert client.get(reverse("admin:returns_closuredayevent_changelist")).status_code == 403


# --- The SLA page ----------------------------------------------------------------------------

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=SHANGHAI)  # Wednesday of 2026-W48
SLA_PAGE = "/admin/sla/"


@pytest.fixture
def known_figures(inspector):
    """W48: 4 claims, 3 judged, 1 in time. W47: 1 claim in time; 5 refunds counted (see each line)."""
    hours = dt.timedelta(hours=1)
    monday_48, monday_47 = (
        dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI),
        dt.datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI),
    )
    ClaimFactory(submitted_at=monday_48, first_response_met=True)
    ClaimFactory(submitted_at=monday_48, first_response_met=False)
    ClaimFactory(submitted_at=NOW - hours, first_response_due_at=NOW + 23 * hours)  # running: not judged yet
    ClaimFactory(submitted_at=monday_48, first_response_due_at=monday_48 + 24 * hours)  # unanswered, late: a miss
    ClaimFactory(submitted_at=monday_47, first_response_met=True)
    ClaimFactory(submitted_at=NOW - dt.timedelta(weeks=20), first_response_met=False)  # before the 12 weeks

    day = dt.timedelta(days=1)
    started = dt.datetime(2026, 11, 17, 10, 0, tzinfo=SHANGHAI)  # Tuesday of W47

    def refund(status, *, target, due, succeeded_at=None, inspected_at=started):
        claim = inspected_claim(inspector, ["full_refund"])
        Claim.objects.filter(pk=claim.pk).update(submitted_at=NOW - dt.timedelta(weeks=30))  # not in the claims
        pk = inspection_propose_refund(claim_id=claim.pk, by=inspector).pk
        Refund.objects.filter(pk=pk).update(
            status=status,
            clock_started_at=inspected_at,
            refund_target_at=target,
            refund_due_at=due,
            succeeded_at=succeeded_at,
        )

    succeeded = RefundStatus.SUCCEEDED
    refund(succeeded, target=NOW - 5 * day, due=NOW - 3 * day, succeeded_at=NOW - 6 * day)  # within both
    refund(succeeded, target=NOW - 5 * day, due=NOW - 3 * day, succeeded_at=NOW - 4 * day)  # within 7 only
    refund(succeeded, target=NOW - 5 * day, due=NOW - 3 * day, succeeded_at=NOW - day)  # late for both
    refund(RefundStatus.PROCESSING, target=NOW - day, due=NOW + day)  # missed the 5, the 7 still open
    refund(RefundStatus.CANCELLED, target=NOW - 5 * day, due=NOW - 3 * day)  # owes nothing: left out
    # inspected Monday of W47, still waiting for finance's approvals: counts in W47 (the approval time is
    # inside the promise), nothing judged yet
    refund(RefundStatus.AWAITING_SECOND_APPROVAL, target=NOW + day, due=NOW + 3 * day, inspected_at=monday_47)
    refund(RefundStatus.PROPOSED, target=NOW + day, due=NOW + 3 * day, inspected_at=monday_47 - day)  # W46


def test_the_sla_page_shows_the_weekly_shares_on_known_figures(client, manager, known_figures):
    client.force_login(manager)

    with time_machine.travel(NOW, tick=False):
        response = client.get(SLA_PAGE)

    assert response.status_code == 200
    weeks = [row["week"] for row in response.context["rows"]]
    assert len(weeks) == 12 and weeks[0] == "2026-W48" and weeks[-1] == "2026-W37"
    rows = {row["week"]: row for row in response.context["rows"]}
    w48, w47, w46 = rows["2026-W48"], rows["2026-W47"], rows["2026-W46"]
    assert (w48["received"], w48["judged"], w48["met"], w48["met_share"]) == (4, 3, 1, 33)
    assert (w48["started"], w48["target_share"], w48["due_share"]) == (0, None, None)
    assert (w47["received"], w47["judged"], w47["met"], w47["met_share"]) == (1, 1, 1, 100)
    assert (w47["started"], w47["target_judged"], w47["within_target"], w47["target_share"]) == (5, 4, 1, 25)
    assert (w47["due_judged"], w47["within_due"], w47["due_share"]) == (3, 2, 67)
    assert (w46["received"], w46["started"], w46["target_judged"]) == (0, 1, 0)
    html = response.content.decode()
    assert '25 % <span class="quiet">(1 / 4)</span>' in html and '67 % <span class="quiet">(2 / 3)</span>' in html


def test_the_sla_page_can_show_more_weeks_and_ignores_other_values(client, manager, known_figures):
    client.force_login(manager)

    with time_machine.travel(NOW, tick=False):
        longer = client.get(SLA_PAGE, {"weeks": "26"}).context["rows"]
        odd = client.get(SLA_PAGE, {"weeks": "1000"}).context["rows"]

    assert len(longer) == 26 and longer[20]["week"] == "2026-W28" and longer[20]["judged"] == 1
    assert len(odd) == 12


def test_the_sla_page_reads_the_day_summaries_in_a_fixed_number_of_queries(
    client, manager, known_figures, django_assert_num_queries
):
    client.force_login(manager)
    client.get(SLA_PAGE)  # warm the content types; the sweep brings the summaries up to date

    # session, user, manager group, permissions ×2 (the admin's menu), the sidebar's queue badges (one query,
    # backoffice/navigation.py), the sweep's check (nothing changed), claims (day rows, then the unanswered
    # ones past 24 h, live), refunds (day rows, then the open ones, live), parcels (day rows)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(12) as captured:
        client.get(SLA_PAGE)

    grouped = [q["sql"] for q in captured.captured_queries if "GROUP BY" in q["sql"]]
    assert len(grouped) == 5
    assert 'FROM "backoffice_claimday"' in grouped[0] and 'FROM "backoffice_refundstartday"' in grouped[2]
    assert 'FROM "backoffice_parcelday"' in grouped[4]
    # The raw rows only through the partial indexes of what is still open: no claim counted by its approval.
    assert not [sql for sql in grouped if '"returns_claim"."approved_at"' in sql]
    assert '"returns_claim"."first_response_met" IS NULL' in grouped[1]
    assert '"refunds_refund"."queue_priority" <' in grouped[3]


def assert_the_sla_page_equals_a_recount(now=NOW) -> None:
    """Every choice of weeks: the page read from the summaries (swept) equals the raw rows' counts, and the
    swept SLA tables equal a rebuild from scratch."""
    from backoffice import summaries
    from backoffice.models import ParcelDay, RefundStartDay

    for weeks in sla.WEEK_CHOICES:
        assert sla.weekly_report(weeks, now) == sla.weekly_report(weeks, now, raw=True), weeks

    def tables():
        return [sorted(model.objects.values_list("day", *COUNTS[model])) for model in (ParcelDay, RefundStartDay)]

    kept = tables()
    summaries.rebuild()
    assert tables() == kept


COUNTS = {}


@pytest.fixture(autouse=True)
def _counts():
    from backoffice.models import ParcelDay, RefundStartDay

    COUNTS[ParcelDay] = ("approved", "received", "received_in_time", "awaited", "expired")
    COUNTS[RefundStartDay] = ("refunds", "sent", "within_target", "within_due")


def test_the_sla_page_from_summaries_equals_a_raw_recount_on_known_figures(known_figures, parcel_figures):
    assert_the_sla_page_equals_a_recount()


# --- Parcels awaited, by the week of approval ---------------------------------------------------


@pytest.fixture
def parcel_figures(cs, inspector):
    """W47: 3 approved with a return (1 received in time, 1 shipped and 1 approved still awaited), 1 returnless.
    W45: 1 approved under an older version (escalation 5 days), received after 7 days: late for it.
    W44: 4 approved: 1 expired, 1 received late (16 days), 1 received in time (11 days), 1 cancelled by a person."""
    from returns.services import claim_cancel, parcel_sweep
    from returns.tests.test_parcel_sweep import approved_claim, receive, ship

    PolicyVersion.objects.create(
        effective_from=dt.datetime(2026, 1, 1, tzinfo=SHANGHAI),
        parcel_reminder_days=3,
        parcel_escalation_days=5,
        parcel_expiry_days=10,
    )
    PolicyVersion.objects.create(effective_from=dt.datetime(2026, 10, 1, tzinfo=SHANGHAI))

    def at(month, day, hour=10):
        return dt.datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)

    receive(approved_claim(cs, at=at(11, 16)), inspector, at(11, 20))
    ship(approved_claim(cs, at=at(11, 17)), at(11, 18))
    approved_claim(cs, at=at(11, 18))
    approved_claim(cs, at=at(11, 18), returnless_reason="Never delivered.")

    older = approved_claim(cs, at=at(11, 2), submitted=at(9, 20))
    assert older.policy_version.parcel_escalation_days == 5
    receive(older, inspector, at(11, 9))

    expired = approved_claim(cs, at=at(10, 26))
    receive(approved_claim(cs, at=at(10, 27)), inspector, at(11, 12))
    receive(approved_claim(cs, at=at(10, 29)), inspector, at(11, 9))
    cancelled = approved_claim(cs, at=at(10, 28))
    with time_machine.travel(at(10, 30), tick=False):
        claim_cancel(claim_id=cancelled.pk, by=cs, reason="The customer keeps it.")
    with time_machine.travel(NOW, tick=False):
        assert parcel_sweep()["expired"] == 1
    assert Claim.objects.get(pk=expired.pk).status == "cancelled"


def test_the_sla_page_shows_the_parcels_awaited_per_week_of_approval(client, manager, parcel_figures):
    client.force_login(manager)

    with time_machine.travel(NOW, tick=False):
        response = client.get(SLA_PAGE)

    rows = {row["week"]: row["parcels"] for row in response.context["rows"]}
    keys = ("approved", "received", "received_in_time", "awaited", "expired")
    assert [rows["2026-W47"][key] for key in keys] == [3, 1, 1, 2, 0]
    assert [rows["2026-W45"][key] for key in keys] == [1, 1, 0, 0, 0]
    assert [rows["2026-W44"][key] for key in keys] == [4, 2, 1, 0, 1]
    assert [rows["2026-W48"][key] for key in keys] == [0, 0, 0, 0, 0]
    html = response.content.decode()
    assert "parcels awaited" in html
    assert '<td class="parcels-approved">4</td>' in html and '<td class="parcels-expired">1</td>' in html


def test_only_managers_see_the_sla_page_and_its_link(client, manager, cs):
    client.force_login(cs)
    assert client.get(SLA_PAGE).status_code == 403
    assert 'href="/admin/sla/"' not in client.get("/admin/").content.decode()

    client.force_login(manager)
    assert client.get(SLA_PAGE).status_code == 200
    assert 'href="/admin/sla/"' in client.get("/admin/").content.decode()


def test_the_sla_page_needs_a_login(client):
    response = client.get(SLA_PAGE)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_parcels_report_reads_the_approval_weeks_through_an_index(parcel_figures):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # From W47's middle: two of the nine approvals, so the plan's choice does not hang on a tie between
    # indexes over nine rows (another index on the claims tied with this one over the whole table).
    with CaptureQueriesContext(connection) as captured:
        sla.parcel_weeks(dt.datetime(2026, 11, 18, tzinfo=SHANGHAI))
    (sql,) = [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE returns_claim")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "claim_approved_at" in plan, plan


def test_the_sla_summaries_equal_a_raw_recount_after_every_kind_of_change(cs, inspector, manager, finance):
    """Approved with a return, shipped, received (in time and late), expired by the sweep, cancelled by a
    person, returnless; a refund proposed (its clock starts), approved, paid; a closure day moving deadlines."""
    from returns.services import claim_cancel, parcel_sweep
    from returns.tests.test_parcel_sweep import approved_claim, receive, ship

    def at(month, day, hour=10):
        return dt.datetime(2026, month, day, hour, 0, tzinfo=SHANGHAI)

    assert_the_sla_page_equals_a_recount()
    waiting = approved_claim(cs, at=at(11, 16))
    assert_the_sla_page_equals_a_recount()
    ship(waiting, at(11, 17))
    assert_the_sla_page_equals_a_recount()
    receive(waiting, inspector, at(11, 18))
    late = approved_claim(cs, at=at(10, 20))
    receive(late, inspector, at(11, 12))
    assert_the_sla_page_equals_a_recount()
    approved_claim(cs, at=at(10, 21))
    with time_machine.travel(NOW, tick=False):
        assert parcel_sweep()["expired"] == 1
    assert_the_sla_page_equals_a_recount()
    cancelled = approved_claim(cs, at=at(11, 19))
    with time_machine.travel(at(11, 20), tick=False):
        claim_cancel(claim_id=cancelled.pk, by=cs, reason="The customer keeps it.")
    approved_claim(cs, at=at(11, 19), returnless_reason="Never delivered.")
    assert_the_sla_page_equals_a_recount()

    refund = approved_refund(inspector, finance, at=at(11, 20))  # proposed, then approved: its clock runs
    assert_the_sla_page_equals_a_recount()
    with time_machine.travel(at(11, 23), tick=False):
        refund_services.refund_execute(refund_id=refund.pk)
        refund = refund_services.refund_record_manual_payment(
            refund_id=refund.pk, by=finance, provider_reference="BANK-1"
        )
    assert refund.status == RefundStatus.SUCCEEDED, refund.status
    assert_the_sla_page_equals_a_recount()
    open_refund = approved_refund(inspector, finance, at=at(11, 24))
    manager.is_superuser = True  # the closure-day permissions
    with time_machine.travel(at(11, 24, 12), tick=False):
        assert sla.closure_day_save(closure_day=ClosureDay(day=dt.date(2026, 11, 26), reason="Stocktake"), by=manager)
    open_refund.refresh_from_db()
    assert_the_sla_page_equals_a_recount()
    assert_the_sla_page_equals_a_recount(now=open_refund.refund_due_at + dt.timedelta(hours=1))  # judged late

    # Written by hand, not through a service: a clock's start and a parcel's receipt corrected, an expiry recorded.
    Refund.objects.filter(pk=open_refund.pk).update(clock_started_at=at(11, 10))
    assert_the_sla_page_equals_a_recount()
    ClaimEvent.objects.filter(claim=late, action=ClaimAction.RECEIVE).update(created_at=at(10, 22))
    assert_the_sla_page_equals_a_recount()
    ClaimEvent.objects.create(
        claim=cancelled, action=ClaimAction.EXPIRE, actor_kind="system", from_status="cancelled", to_status="cancelled"
    )
    assert_the_sla_page_equals_a_recount()
    rows = {row["week"]: row for row in sla.weekly_report(12, NOW)}
    assert rows["2026-W43"]["parcels"] == {"approved": 2, "received": 1, "received_in_time": 1, "awaited": 0,
                                           "expired": 1}  # fmt: skip
    assert rows["2026-W47"]["parcels"]["expired"] == 1 and rows["2026-W46"]["started"] == 1
