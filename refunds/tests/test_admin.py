"""Finance's admin: the queue (order, totals, query count) and the refund page's actions."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inspections.services import inspection_propose_refund
from refunds import services
from refunds.models import LineKind, Refund, RefundStatus
from refunds.tests.conftest import inspected_claim
from returns.models import Claim, ClaimType, ClosureDay
from returns.tests.factories import ROLES, staff_user
from returns.workdays import working_days_between

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:refunds_refund_changelist")


def refund_in(inspector, status, *, currency="USD", unit_price="49.90", **fields):
    claim = inspected_claim(inspector, ["full_refund"], currency=currency, unit_price=unit_price)
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    Refund.objects.filter(pk=refund.pk).update(status=status, **fields)
    return Refund.objects.get(pk=refund.pk)


def page_messages(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_queue_puts_failed_and_approved_not_sent_first_with_totals_per_currency(client, finance, inspector):
    proposed = refund_in(inspector, RefundStatus.PROPOSED)
    approved = refund_in(inspector, RefundStatus.APPROVED, currency="EUR", unit_price="20.00")
    failed = refund_in(inspector, RefundStatus.FAILED, failure_reason="Stripe answered 500 api_error")
    paid = refund_in(inspector, RefundStatus.SUCCEEDED)
    client.force_login(finance)

    response = client.get(QUEUE)

    assert response.status_code == 200
    shown = [refund.pk for refund in response.context["cl"].result_list]
    assert shown == [failed.pk, approved.pk, proposed.pk]  # paid ones are not in the open queue
    totals = {row["currency"]: (row["amount"], row["refunds"]) for row in response.context["open_totals"]}
    assert totals == {"EUR": (Decimal("20.00"), 1), "USD": (Decimal("99.80"), 2)}
    html = response.content.decode()
    assert failed.claim.rma_number in html and "Stripe answered 500 api_error" in html
    assert "99.80 USD" in html
    assert paid.claim.rma_number not in html


SHANGHAI = ZoneInfo("Asia/Shanghai")
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def china_calendar(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    settings.SLA_HOLIDAYS_COUNTRY, settings.SLA_HOLIDAYS_SUBDIVISION = "CN", ""


def queue_ages(client) -> list[int]:
    with time_machine.travel(WEDNESDAY, tick=False):
        changelist = client.get(QUEUE).context["cl"]
    return [changelist.model_admin.age(row) for row in changelist.result_list]


def test_the_queue_shows_the_age_in_working_days(client, finance, inspector, china_calendar):
    approved_at = WEDNESDAY - timedelta(days=9)  # Monday 16 November
    refund_in(inspector, RefundStatus.APPROVED, approved_at=approved_at)
    client.force_login(finance)

    assert queue_ages(client) == [7] == [working_days_between(approved_at, WEDNESDAY)]


def test_the_queue_age_skips_public_holidays_and_closure_days(client, finance, inspector, china_calendar):
    # Mon 28 Sep 2026 to Fri 9 Oct: China's National Day break (1-7 October) is not counted
    refund_in(inspector, RefundStatus.APPROVED, approved_at=datetime(2026, 9, 28, 10, 0, tzinfo=SHANGHAI))
    client.force_login(finance)
    with time_machine.travel(datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI), tick=False):
        before = client.get(QUEUE).context["cl"]
        assert [before.model_admin.age(row) for row in before.result_list] == [4]  # 29, 30 Sep, 8, 9 Oct
        ClosureDay.objects.create(day=datetime(2026, 10, 8).date(), reason="Stock-taking")
        after = client.get(QUEUE).context["cl"]
        assert [after.model_admin.age(row) for row in after.result_list] == [3]


def queue_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(QUEUE).status_code == 200
    return len(captured)


def test_the_queue_query_count_does_not_grow_with_rows(client, finance, inspector, django_assert_max_num_queries):
    for _ in range(2):
        refund_in(inspector, RefundStatus.APPROVED)
    client.force_login(finance)
    few = queue_queries(client)
    for status in [RefundStatus.FAILED] * 5 + [RefundStatus.PROPOSED] * 5:
        refund_in(inspector, status, currency="EUR")

    many = queue_queries(client)

    assert many == few
    # session, user, manager group (export links), permissions ×2, count, list, closure days (ages), totals
    with django_assert_max_num_queries(9):
        client.get(QUEUE)


def test_finance_approves_from_the_refund_page(client, finance, inspector):
    refund = refund_in(inspector, RefundStatus.PROPOSED)
    client.force_login(finance)
    page = client.get(reverse("admin:refunds_refund_change", args=[refund.pk]))
    assert b'value="approve"' in page.content

    response = client.post(reverse("admin:refunds_refund_act", args=[refund.pk, "approve"]), follow=True)

    assert "Approved: the refund is being sent." in page_messages(response)
    assert Refund.objects.get(pk=refund.pk).status in (RefundStatus.APPROVED, RefundStatus.PROCESSING)


def test_finance_adjusts_a_line_with_a_reason_on_the_refund_page(client, finance, inspector):
    refund = refund_in(inspector, RefundStatus.PROPOSED, unit_price="40.00")
    client.force_login(finance)

    response = client.post(
        reverse("admin:refunds_refund_act", args=[refund.pk, "adjust"]),
        {"line": "deduction", "description": "Missing manual", "amount": "5.00", "reason": "Manual not returned"},
        follow=True,
    )

    assert "Adjusted: the refund is now 35.00 USD." in page_messages(response)
    refund.refresh_from_db()
    assert refund.total == Decimal("35.00")


@pytest.mark.parametrize("role", ["cs", "warehouse"])
def test_customer_service_and_warehouse_cannot_approve_from_the_admin(client, inspector, django_user_model, role):
    refund = refund_in(inspector, RefundStatus.PROPOSED)
    user = staff_user(django_user_model, f"u-{role}", ROLES[role])
    client.force_login(user)

    response = client.post(reverse("admin:refunds_refund_act", args=[refund.pk, "approve"]), follow=True)

    assert any("permission" in message for message in page_messages(response))
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PROPOSED


def test_the_first_approver_sees_no_second_approval_button(client, finance, finance2, inspector, settings):
    settings.REFUND_SECOND_APPROVAL_ABOVE = {"USD": Decimal("10")}
    refund = refund_in(inspector, RefundStatus.PROPOSED)
    client.force_login(finance)
    client.post(reverse("admin:refunds_refund_act", args=[refund.pk, "approve"]))
    page = reverse("admin:refunds_refund_change", args=[refund.pk])

    assert b'value="second_approve"' not in client.get(page).content
    client.force_login(finance2)
    assert b'value="second_approve"' in client.get(page).content


# --- Return shipping: the ways around the rules a direct POST tried (item 7) ---------------------


def adjust(client, refund, **data):
    return client.post(reverse("admin:refunds_refund_act", args=[refund.pk, "adjust"]), data, follow=True)


def doa_refund_with_shipping(inspector, unit_price="60.00"):
    claim = inspected_claim(inspector, ["full_refund_with_shipping"], currency="EUR", unit_price=unit_price)
    return inspection_propose_refund(claim_id=claim.pk, by=inspector)


def test_the_lines_table_says_which_amount_finance_still_enters(client, finance, inspector):
    refund = doa_refund_with_shipping(inspector)
    client.force_login(finance)

    html = client.get(reverse("admin:refunds_refund_change", args=[refund.pk])).content.decode()

    start = html.index('id="lines-group"')
    rows = re.findall(r"<tr>(.*?)</tr>", html[start : html.index("</table>", start)], re.S)
    cells = {re.sub(r"<[^>]+>", "", row).split()[0]: row for row in rows[1:]}
    # the return shipping's amount comes from the customer's receipt; the goods' line is complete: no red cross
    assert "To enter before approval" in cells["Return"] and "To enter" not in cells["Goods"]
    assert "icon-no" not in html[start:] and "icon-yes" not in html[start:]


def test_finance_cannot_add_a_return_shipping_line_by_a_direct_post(client, finance, inspector):
    # given a no-reason return's refund (the policy does not reimburse its shipping)
    claim = inspected_claim(inspector, ["full_refund"], currency="EUR", unit_price="60.00")
    Claim.objects.filter(pk=claim.pk).update(claim_type=ClaimType.NO_REASON, doa_reason="")
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    client.force_login(finance)

    # when finance posts a new return-shipping line of 439.99, as the form no longer offers
    response = adjust(client, refund, line="return_shipping", description="Return label", amount="439.99", reason="x")

    # then it is refused in words and nothing changed
    assert any(
        "Return shipping is reimbursed only on the line the inspection proposed" in m for m in page_messages(response)
    )
    refund.refresh_from_db()
    assert (refund.total, refund.lines.count()) == (Decimal("60.00"), 1)


def test_shipping_is_refused_where_the_claims_policy_does_not_reimburse_it(client, finance, inspector):
    # given a no-reason return whose inspector chose the shipping outcome, under a policy that does not reimburse it
    claim = inspected_claim(inspector, ["full_refund_with_shipping"], currency="EUR", unit_price="60.00")
    Claim.objects.filter(pk=claim.pk).update(claim_type=ClaimType.NO_REASON, doa_reason="")
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    shipping = refund.lines.get(kind=LineKind.RETURN_SHIPPING)
    client.force_login(finance)

    response = adjust(client, refund, line=str(shipping.pk), amount="12.00", reason="Receipt")

    assert any("does not reimburse return shipping" in m for m in page_messages(response))
    shipping.refresh_from_db()
    assert shipping.amount == 0


@pytest.mark.parametrize("amount", ["100000", "1e30", "12345678901", "100000000000", "١٢", "١٢٫٥٠", "１２"])
def test_an_absurd_shipping_amount_is_refused(client, finance, inspector, amount):
    refund = doa_refund_with_shipping(inspector)
    shipping = refund.lines.get(kind=LineKind.RETURN_SHIPPING)
    client.force_login(finance)

    response = adjust(client, refund, line=str(shipping.pk), amount=amount, reason="Receipt")

    assert response.status_code == 200
    assert page_messages(response) and not any(m.startswith("Adjusted") for m in page_messages(response))
    refund.refresh_from_db()
    assert refund.total == Decimal("60.00")


def test_shipping_above_the_policys_cap_needs_a_second_approver(client, finance, inspector):
    # given a DOA refund whose customer's receipt says 45.00 EUR (the policy's cap is 30 EUR)
    refund = doa_refund_with_shipping(inspector)
    shipping = refund.lines.get(kind=LineKind.RETURN_SHIPPING)
    client.force_login(finance)
    adjust(client, refund, line=str(shipping.pk), amount="45.00", reason="Courier receipt")

    # when finance approves it (105 EUR in all: below the total's threshold)
    response = client.post(reverse("admin:refunds_refund_act", args=[refund.pk, "approve"]), follow=True)

    # then a second finance user must approve it too, and the event says why
    refund.refresh_from_db()
    assert refund.status == RefundStatus.AWAITING_SECOND_APPROVAL
    assert "Approved; a second finance user must approve it too." in page_messages(response)
    event = refund.events.get(action="approve_first_of_two")
    assert event.payload["second_approval_because"] == ["the return shipping is above the policy's cap of 30.00 EUR"]


def test_the_refund_page_shows_its_history_in_words(client, finance, inspector):
    claim = inspected_claim(inspector, ["full_refund_with_shipping"], unit_price="49.90")
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    shipping = refund.lines.get(kind=LineKind.RETURN_SHIPPING)
    services.refund_adjust_lines(
        refund_id=refund.pk,
        by=finance,
        changes=[services.LineChange(line_id=shipping.pk, amount=Decimal("8.50"))],
        reason="DHL receipt",
    )
    client.force_login(finance)

    html = client.get(reverse("admin:refunds_refund_change", args=[refund.pk])).content.decode()

    start = html.rindex("<", 0, html.index('id="events-group"'))
    history = " ".join(re.sub(r"<[^>]+>", " ", unescape(html[start : html.index("</fieldset>", start)])).split())
    assert "picker Proposed: 49.90 USD; provider: Manual" in history and "Status: Proposed." in history
    assert (
        "payer Refund adjusted: return shipping 0.00 → 8.50 USD; total 49.90 → 58.40 USD. Reason: DHL receipt."
        in history
    )
    for mark in ("{", "}", "[", "]", "None", "_"):
        assert mark not in history, f"{mark!r} in {history!r}"
