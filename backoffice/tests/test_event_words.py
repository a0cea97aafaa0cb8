"""Every event in words: one template per action of every event model, rendered from the payloads the
services write (as the database gives them back: ISO strings, amounts as strings), and from older,
emptier payloads.

The payloads below are taken from the services that write them (grep ``_record(``, ``events.record``,
``events.build``, ``claim_note(``). A new action without a payload here fails
``test_every_action_has_a_realistic_payload_here``, so this test cannot go stale.
"""

import datetime as dt
import html
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template
from django.utils import timezone

from core import actors, events
from core.events import PayloadEncoder
from refunds.models import Refund, RefundAction, RefundEvent
from refunds.services import RETURN_SHIPPING_TO_ENTER
from returns.models import (
    ClaimAction,
    ClaimEvent,
    ClosureDayAction,
    ClosureDayEvent,
    OrderAction,
    OrderEvent,
    ProductAction,
    ProductEvent,
)
from warranty.models import ReplacementAction, ReplacementEvent

DUE = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)  # 14:00 in Shanghai
LATER = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)

INSPECTED_ITEM = {  # inspections.services._item_details
    "inspection_id": 3,
    "claim_item_id": 8,
    "sku": "SR-1195",
    "quantity": 1,
    "inspector": "picker",
    "proposed_outcome": "full_refund",
    "outcome": "reduced_refund",
    "outcome_change_reason": "box opened",
    "deduction": {"amount": "9.98", "currency": "USD", "percent": "20.00", "reason": "box opened"},
}
CLAIM = {
    ClaimAction.CREATE: {"items": [{"sku": "SR-1195", "units": 1}, {"sku": "CAGE-A7", "units": 2}]},
    ClaimAction.ASK_FOR_INFORMATION: {"message": "Please send a photo of the box."},
    ClaimAction.RECORD_CUSTOMER_ANSWER: {"answer": "SN 12345"},
    ClaimAction.RESOLVE: {"note": "Firmware update fixed it."},
    ClaimAction.APPROVE: {
        "window_override_reason": "The customer was in hospital",
        "days_over": 3,
        "rma_number": "RMA-2026-000042",
    },
    ClaimAction.REJECT: {"reason": "Damage caused by a fall."},
    ClaimAction.CANCEL: {"reason": "Customer withdrew the request."},
    ClaimAction.EXPIRE: {"approved_at": DUE, "expiry_days": 30},
    ClaimAction.SHIP: {"carrier": "DHL", "tracking_number": "JD0146000012345", "sent_on": dt.date(2026, 11, 20)},
    ClaimAction.RECEIVE: {
        "return_parcel_id": 7,
        "condition": "box_damaged",
        "note": "Corner crushed.",
        "unmatched_parcel_id": 3,
        "attached_by": "agent",
    },
    ClaimAction.INSPECT: {
        "outcome": "Refund with a deduction of 20% (9.98 USD) for box opened (the return shipping is on your charge).",
        "items": [
            INSPECTED_ITEM,
            {
                **INSPECTED_ITEM,
                "sku": "CAGE-A7",
                "outcome": "full_refund",
                "outcome_change_reason": "",
                "deduction": None,
            },
        ],
    },
    ClaimAction.REJECT_AFTER_INSPECTION: {"reason": "the inspection found human or physical damage: cracked housing."},
    ClaimAction.REFUND: {
        "refund_id": 12,
        "total": Decimal("58.400"),
        "currency": "USD",
        "provider_reference": "re_3PqR8sLkd",
    },
    ClaimAction.REPLACE: {
        "carrier": "SF Express",
        "tracking_number": "SF1234567890",
        "outbound_parcel_id": 4,
        "replacement_ids": [2],
        "replacement_serials": ["CAGE-9001"],
    },
    ClaimAction.ADD_EVIDENCE: {"evidence_id": 5, "name": "box.png", "whole_package": True},
    ClaimAction.ATTACH_MESSAGE: {"message": "The second unit is scratched too.", "received_at": DUE},
    # returns.services.claim_reply and evidence_mark_whole_package (the inbox's issue)
    ClaimAction.REPLY_SENT: {"message": "Please use the attached label.", "email_id": 7, "attachments": ["label.pdf"]},
    ClaimAction.EVIDENCE_MARKED: {"evidence_id": 4, "name": "IMG_4533.JPG", "whole_package": True},
    ClaimAction.RECEIVED_DATE_CHANGED: {
        "old_received_on": dt.date(2026, 11, 23),
        "new_received_on": dt.date(2026, 11, 21),
        "old_source": "store",
        "new_source": "carrier",
        "reason": "DHL's delivery scan",
    },
    ClaimAction.SUBMITTED_AT_CHANGED: {
        "old_submitted_at": DUE,
        "new_submitted_at": LATER,
        "old_policy_version": "Policy from 2026-01-01 (#1)",
        "new_policy_version": "Policy from 2026-01-01 (#1)",
        "reason": "Typed in from the wrong email",
    },
    ClaimAction.PARCEL_REMINDED: {"awaiting_parcel_since": DUE, "days_waiting": 7},
    ClaimAction.PARCEL_ESCALATED: {"awaiting_parcel_since": DUE, "days_waiting": 14},
    ClaimAction.SLA_REMINDED: {"first_response_due_at": DUE},
    ClaimAction.SLA_BREACHED: {"first_response_due_at": DUE},
    ClaimAction.INSPECTION_STARTED: {"inspection_id": 3, "item": "SR-1195 × 1"},
    ClaimAction.INSPECTION_RECORDED: {
        "inspection_id": 3,
        "item": "SR-1195 × 1",
        "changes": {
            "is_new_unused": [None, True],
            "label_present": [None, False],
            "findings": ["", "Box opened, lens cap missing"],
            "outcome": ["", "reduced_refund"],
            "outcome_change_reason": ["", "box opened"],
            "deduction_percent": [None, Decimal("20.00")],
            "deduction_reason": ["", "box opened"],
        },
        "proposed_outcome": "full_refund",
        "currency": "USD",
    },
    ClaimAction.INSPECTION_PHOTO_ADDED: {"inspection_id": 3, "item": "SR-1195 × 1", "name": "scratch.jpg"},
    ClaimAction.OUTBOUND_SHIPPED: {
        "outbound_parcel_id": 4,
        "purpose": "return_to_customer",
        "carrier": "DHL",
        "tracking_number": "JD99",
        "serial_numbers": ["SN-1", "SN-2"],
    },
    ClaimAction.UNMATCHED_PARCEL_ATTACHED: {"unmatched_parcel_id": 9, "reason": "already_received", "note": "2nd box"},
    ClaimAction.REFUND_APPROVAL_REMINDED: {
        "refund_id": 12,
        "refund_status": "awaiting_second_approval",
        "refund_target_at": DUE,
        "refund_due_at": LATER,
    },
    ClaimAction.REFUND_SLA_REMINDED: {
        "refund_id": 12,
        "refund_status": "approved",
        "refund_target_at": DUE,
        "refund_due_at": LATER,
    },
    ClaimAction.REFUND_SLA_BREACHED: {
        "refund_id": 12,
        "refund_status": "failed",
        "refund_target_at": DUE,
        "refund_due_at": LATER,
    },
    ClaimAction.RECONCILED: {"what": "replacement_parcel_shipped", "replacement_ids": [2, 3]},
    ClaimAction.CATEGORY_SET: {  # returns.services._claims_category_recompute
        "products": [{"sku": "SR-1195", "old": None, "new": True}],
        "old_electronic": None,
        "new_electronic": True,
        "reason": "set on the page of #12",
    },
}
REFUND = {
    RefundAction.PROPOSE: {
        "remedies": {"8": "full_with_shipping", "9": "reduced"},
        "already_paid_back": ["SR-1195"],
        "total": Decimal("49.900"),
        "provider": "stripe",
    },
    RefundAction.ADJUST: {
        "reason": "DHL receipt",
        "changes": [
            {
                "line": 31,
                "description": RETURN_SHIPPING_TO_ENTER,
                "kind": "return_shipping",
                "from": Decimal("0.000"),
                "to": Decimal("8.50"),
            },
            {"line": 32, "description": "Scratch on the lens", "kind": "deduction", "from": None, "to": Decimal("5")},
        ],
        "total_from": Decimal("49.900"),
        "total_to": Decimal("53.40"),
        "currency": "USD",
    },
    RefundAction.APPROVE: {"total": Decimal("58.400"), "currency": "USD"},
    RefundAction.APPROVE_FIRST_OF_TWO: {
        "total": Decimal("1200.000"),
        "currency": "USD",
        "second_approval_because": [
            "the total is above 1000 USD",
            "the return shipping is above the policy's cap of 30 USD",
        ],
    },
    RefundAction.SECOND_APPROVE: {"total": Decimal("1200.000"), "currency": "USD"},
    RefundAction.START: {"attempt": 2, "round": 2},
    RefundAction.RESUME: {"attempt": 3},
    RefundAction.AWAIT_MANUAL_PAYMENT: {"attempt": 1},
    RefundAction.ATTEMPT_FAILED: {
        "attempt": 1,
        "reason": "Stripe is unavailable (HTTP 503)",
        "http_status": 503,
        "will_retry": True,
    },
    RefundAction.SUCCEED: {
        "provider_reference": "re_3PqR8sLkd",
        "attempt": 1,
        "stripe_status": "requires_action",
        "replayed": True,
    },
    RefundAction.FAIL: {
        "reason": "Stripe refund re_3PqR8sLkd is failed: expired_or_canceled_card.",
        "http_status": 200,
        "error": {"id": "re_3PqR8sLkd", "status": "failed", "failure_reason": "expired_or_canceled_card"},
        "attempt": 2,
    },
    RefundAction.RECORD_MANUAL_PAYMENT: {"provider_reference": "BANK-2026-1127"},
    RefundAction.RETRY: {"reason": "The customer's card was renewed", "round": 2},
    RefundAction.CANCEL: {"reason": "Customer kept the goods"},
    RefundAction.DEADLINES_RECOMPUTED: {"from": {"target": DUE, "due": LATER}, "to": {"target": LATER, "due": LATER}},
    RefundAction.CLAIM_NOT_MARKED_REFUNDED: {"reason": "RMA-2026-000042 is cancelled: refund is not allowed."},
}
REPLACEMENT = {
    ReplacementAction.PROPOSE: {"kind": "whole_product", "part": ""},
    ReplacementAction.APPROVE: {
        "changed": {"kind": ["part", "whole_product"], "part": ["locking lever", ""]},
        "replacement_serial": "CAGE-9001",
        "outbound_parcel_id": 4,
    },
    ReplacementAction.SHIP: {"carrier": "DHL", "tracking_number": "JD0146000012345"},
    ReplacementAction.CANCEL: {"reason": "Out of stock; the customer chose a refund."},
}
ORDER = {
    OrderAction.RECEIVED_DATE_CHANGED: {
        "old_received_on": dt.date(2026, 11, 23),
        "new_received_on": dt.date(2026, 11, 21),
        "old_source": "store",
        "new_source": "carrier",
        "reason": "DHL's delivery scan",
    },
}
PRODUCT = {  # returns.services.product_set_category
    ProductAction.CATEGORY_SET: {
        "sku": "SR-1195",
        "old": False,
        "new": True,
        "reason": "The datasheet lists a USB-C port",
        "open_claims_changed": 2,
        "approved_claims": ["RMA-2026-000042 / #12"],
    },
}
CLOSURE_DAY = {  # backoffice.sla
    ClosureDayAction.ADDED: {"day": dt.date(2026, 11, 25), "reason": "Stock-taking", "refunds_moved": 2},
    ClosureDayAction.CHANGED: {
        "from": {"day": dt.date(2026, 11, 25), "reason": "Stock-taking"},
        "to": {"day": dt.date(2026, 11, 26), "reason": "Inventory"},
        "refunds_moved": 0,
    },
    ClosureDayAction.DELETED: {
        "day": dt.date(2026, 11, 25),
        "reason": "Stock-taking",
        "refunds_moved": 1,
        "deleted_with": [dt.date(2026, 11, 24)],
    },
}
# Other shapes the same actions take (another branch of the service, an older event).
VARIANTS = [
    (ClaimEvent, ClaimAction.APPROVE, {"returnless_reason": "The lens cap never shipped.", "rma_number": "RMA-2026-1"}),
    (ClaimEvent, ClaimAction.RECONCILED, {"what": "refund_succeeded", "refund_id": 12}),
    (ClaimEvent, ClaimAction.INSPECT, {"outcome": "Full refund", "items": []}),
    (ClaimEvent, ClaimAction.RECEIVE, {"return_parcel_id": 7, "condition": "intact", "note": ""}),
    (ClaimEvent, ClaimAction.REFUND, {"refund_id": 12, "total": "49.900", "currency": "JPY", "reconciled": True}),
    (ClaimEvent, ClaimAction.INSPECTION_RECORDED, {"inspection_id": 3, "item": "SR-1195 × 1", "changes": {}}),
    (ReplacementEvent, ReplacementAction.APPROVE, {"replacement_serial": "", "outbound_parcel_id": 4}),
    (ReplacementEvent, ReplacementAction.PROPOSE, {"kind": "part", "part": "locking lever"}),
    (ClosureDayEvent, ClosureDayAction.DELETED, {"day": "2026-11-25", "reason": "Stock-taking", "refunds_moved": 0}),
    (
        ClaimEvent,
        ClaimAction.CATEGORY_SET,
        {
            "products": [{"sku": "SR-1195", "old": True, "new": False}],
            "old_electronic": True,
            "new_electronic": None,
            "reason": "",
        },
    ),
    (
        ProductEvent,
        ProductAction.CATEGORY_SET,
        {"sku": "SR-1195", "old": None, "new": False, "reason": "", "open_claims_changed": 0, "approved_claims": []},
    ),
]

PAYLOADS = {
    ClaimEvent: (ClaimAction, CLAIM),
    RefundEvent: (RefundAction, REFUND),
    ReplacementEvent: (ReplacementAction, REPLACEMENT),
    OrderEvent: (OrderAction, ORDER),
    ProductEvent: (ProductAction, PRODUCT),
    ClosureDayEvent: (ClosureDayAction, CLOSURE_DAY),
}
EVERY_ACTION = [(model, action) for model, (choices, _) in PAYLOADS.items() for action in choices.values]


def stored(payload: dict) -> dict:
    """The payload as the database gives it back."""
    return json.loads(json.dumps(payload, cls=PayloadEncoder))


def event(model, action, payload, by=actors.SYSTEM):
    subject = {"refund": Refund(currency="USD")} if model is RefundEvent else {}
    return events.build(model, by=by, action=action, payload=stored(payload), **subject)


def text(rendered) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", str(rendered))).split())


def assert_words(words: str) -> None:
    assert words
    for mark in ("{", "}", "[", "]", "None", "Decimal(", "&lt;", "&gt;"):
        assert mark not in words, f"{mark!r} in {words!r}"
    # A provider's own message is quoted verbatim (finance looks its codes up); our words have no codes.
    assert not re.search(r"[a-z]_[a-z]", re.sub(r"“[^”]*”", "", words)), f"a code in {words!r}"


def test_every_action_has_a_realistic_payload_here():
    for _model, (choices, payloads) in PAYLOADS.items():
        assert set(payloads) == set(choices.values)


@pytest.mark.parametrize(("model", "action"), EVERY_ACTION)
def test_every_action_has_its_template(model, action):
    assert get_template(f"events/{model._meta.model_name}/{action}.html")


def test_no_template_is_left_without_its_action():
    folder = Path(settings.BASE_DIR) / "templates" / "events"
    for model, (choices, _) in PAYLOADS.items():
        names = {path.stem for path in (folder / model._meta.model_name).glob("*.html")}
        assert {name for name in names if not name.startswith("_")} == set(choices.values)


@pytest.mark.parametrize(("model", "action"), EVERY_ACTION)
def test_every_action_reads_in_words(model, action):
    _, payloads = PAYLOADS[model]

    assert_words(text(event(model, action, payloads[action]).describe()))


@pytest.mark.parametrize(("model", "action", "payload"), VARIANTS)
def test_other_shapes_of_a_payload_read_in_words(model, action, payload):
    assert_words(text(event(model, action, payload).describe()))


@pytest.mark.parametrize(("model", "action"), EVERY_ACTION)
def test_an_older_event_with_an_empty_payload_still_reads(model, action):
    assert_words(text(event(model, action, {}).describe()))


def test_payload_text_is_escaped():
    rendered = event(ClaimEvent, ClaimAction.REJECT, {"reason": "<script>alert(1)</script>"}).describe()

    assert "<script>" not in rendered and "&lt;script&gt;" in rendered


# --- Exact sentences ---------------------------------------------------------------------


def words(model, action, payload) -> str:
    with timezone.override("Asia/Shanghai"):
        return text(event(model, action, payload).describe())


def test_an_inspection_outcome_override_in_words():
    payload = {
        "inspection_id": 3,
        "item": "SR-1195 × 1",
        "changes": {
            "outcome": ["full_refund", "reduced_refund"],
            "outcome_change_reason": ["", "box opened"],
            "deduction_percent": [None, Decimal("20.00")],
            "deduction_reason": ["", "box opened"],
        },
        "proposed_outcome": "full_refund",
        "currency": "USD",
    }

    assert words(ClaimEvent, ClaimAction.INSPECTION_RECORDED, payload) == (
        "Inspection of SR-1195 × 1: outcome changed from full refund to refund with deduction 20 %, reason: box opened."
    )


def test_a_first_inspection_record_names_the_checklist_and_an_outcome_other_than_proposed():
    payload = CLAIM[ClaimAction.INSPECTION_RECORDED]

    assert words(ClaimEvent, ClaimAction.INSPECTION_RECORDED, payload) == (
        "Inspection of SR-1195 × 1: new condition, no signs of use: yes; label present: no; "
        "outcome refund with deduction 20 % instead of the proposed full refund, reason: box opened; "
        "findings: “Box opened, lens cap missing”."
    )


def test_a_refund_adjustment_in_words():
    payload = {
        "reason": "DHL receipt",
        "changes": [
            {
                "line": 31,
                "description": RETURN_SHIPPING_TO_ENTER,
                "kind": "return_shipping",
                "from": Decimal("0.000"),
                "to": Decimal("8.50"),
            }
        ],
        "total_from": Decimal("49.900"),
        "total_to": Decimal("58.400"),
        "currency": "USD",
    }

    assert words(RefundEvent, RefundAction.ADJUST, payload) == (
        "Refund adjusted: return shipping 0.00 → 8.50 USD; total 49.90 → 58.40 USD. Reason: DHL receipt."
    )


def test_a_received_date_change_names_its_source():
    assert words(OrderEvent, OrderAction.RECEIVED_DATE_CHANGED, ORDER[OrderAction.RECEIVED_DATE_CHANGED]) == (
        "Received date changed from 23 Nov 2026 to 21 Nov 2026 (source: the carrier's delivery event). "
        "Reason: DHL's delivery scan."
    )


def test_a_closure_day_change_in_words():
    payload = {**CLOSURE_DAY[ClosureDayAction.CHANGED], "refunds_moved": 2}

    assert words(ClosureDayEvent, ClosureDayAction.CHANGED, payload) == (
        "Closure day changed: 25 Nov 2026 (Stock-taking) → 26 Nov 2026 (Inventory); "
        "the deadlines of 2 open refunds moved."
    )


def test_an_approval_names_its_rma_number():
    assert (
        words(ClaimEvent, ClaimAction.APPROVE, {"rma_number": "RMA-2026-000042"}) == "Approved: RMA-2026-000042 given."
    )


def test_an_overdue_first_response_names_the_instant_and_its_zone():
    assert words(ClaimEvent, ClaimAction.SLA_BREACHED, {"first_response_due_at": DUE}) == (
        "First response overdue: it was due 30 Nov 2026 14:00 (Asia/Shanghai); managers were told."
    )


def test_an_instant_is_shown_in_the_company_zone_whatever_zone_is_active():
    with timezone.override("Europe/Paris"):
        rendered = text(event(ClaimEvent, ClaimAction.SLA_BREACHED, {"first_response_due_at": DUE}).describe())

    assert "30 Nov 2026 14:00 (Asia/Shanghai)" in rendered


def test_money_is_rounded_to_the_currencys_minor_unit():
    assert words(ClaimEvent, ClaimAction.REFUND, {"refund_id": 1, "total": "4500.000", "currency": "JPY"}) == (
        "Refunded: 4,500 JPY (refund #1)."
    )
    assert words(RefundEvent, RefundAction.APPROVE, {"total": "12.345", "currency": "KWD"}) == (
        "Approved: 12.345 KWD to be sent."
    )


def test_an_event_by_the_system_is_the_systems():
    assert event(ClaimEvent, ClaimAction.SLA_BREACHED, {}).actor_name == "system"
    assert event(ClaimEvent, ClaimAction.SHIP, {}, by=actors.CUSTOMER).actor_name == "customer"


def test_a_category_set_on_a_claim_in_words():
    assert words(ClaimEvent, ClaimAction.CATEGORY_SET, CLAIM[ClaimAction.CATEGORY_SET]) == (
        "Category of SR-1195 set to electronic. The claim is electronic now: the electronic products' shorter "
        "windows apply. Reason: set on the page of #12."
    )


def test_a_known_category_changed_on_a_product_in_words():
    assert words(ProductEvent, ProductAction.CATEGORY_SET, PRODUCT[ProductAction.CATEGORY_SET]) == (
        "Category changed from not electronic to electronic, with approved claims RMA-2026-000042 / #12. "
        "2 open claims changed their category. Reason: The datasheet lists a USB-C port."
    )
