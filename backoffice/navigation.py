"""Each role's home is its work: the queues that wait for it, counted, one click away.

The sidebar (``UNFOLD["SIDEBAR"]``) and the home page (``UNFOLD["DASHBOARD_CALLBACK"]``) are built from one
table, ``QUEUES``: what waits, for whom (a permission of the role's, backoffice/roles.py), where it is listed.
Every admin page shows the badges, so all of them are counted in **one** query, each count over an indexed
column and capped at ``CAP`` rows: a badge reads "99+" on a big queue and costs the same at a million claims.
"""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from backoffice import access
from inbox.models import InboundMessage, MessageState
from refunds.models import AWAITING_APPROVAL_STATUSES, Refund, RefundStatus
from returns.models import Claim, ClaimStatus
from shipments.models import UnmatchedParcel
from warranty.models import Replacement, ReplacementStatus

# A badge counts at most this many rows and then reads "99+".
CAP = 100
# Marks the badges' one query in the database's log (and lets tests of a page's own queries set it apart).
SQL_MARK = "/* queue badges */"


@dataclass(frozen=True)
class Queue:
    key: str
    title: str
    icon: str
    # The permission that makes it the user's work (one of the role's, backoffice/roles.py).
    permission: str
    # What is waiting: a queryset over indexed columns (read with its ``values("pk")``, capped).
    waiting: callable
    # The admin page listing it (a URL name and its query string).
    url_name: str
    query: dict
    # Words for the home page: what a person does with it.
    hint: str


def _to_answer(now):
    # The 24-hour clock runs while the ball is in our court (returns/sla.py): a partial index holds those claims.
    return Claim.objects.filter(first_response_due_at__isnull=False)


def _to_answer_urgent(now):
    return Claim.objects.filter(first_response_due_at__lte=now + timedelta(hours=settings.SLA_REMIND_BEFORE_HOURS))


QUEUES = (
    Queue(
        "to_answer",
        "Claims to answer",
        "mark_email_unread",
        "returns.triage_claim",
        _to_answer,
        "admin:returns_claim_changelist",
        {"first_response": "waiting"},
        "Approve, reject or ask the customer within 24 hours of the claim.",
    ),
    Queue(
        "awaiting_customer",
        "Awaiting the customer",
        "hourglass_top",
        "returns.triage_claim",
        lambda now: Claim.objects.filter(status=ClaimStatus.AWAITING_CUSTOMER),
        "admin:returns_claim_changelist",
        {"status__exact": ClaimStatus.AWAITING_CUSTOMER},
        "Asked for information; record the answer when it comes.",
    ),
    Queue(
        "unsorted_messages",
        "Unsorted messages",
        "inbox",
        "inbox.sort_inboundmessage",
        lambda now: InboundMessage.objects.filter(state=MessageState.UNSORTED),
        "admin:inbox_unsortedmessage_changelist",
        {},
        "Emails that found no claim: turn each into a claim or attach it to one.",
    ),
    Queue(
        "unmatched_parcels",
        "Unmatched parcels",
        "help_center",
        "shipments.attach_unmatchedparcel",
        lambda now: UnmatchedParcel.objects.filter(attached_to__isnull=True),
        "admin:shipments_unmatchedparcel_changelist",
        {"attached": "no"},
        "Parcels that arrived without a claim waiting for them: attach each to its claim.",
    ),
    Queue(
        "replacements_to_approve",
        "Replacements to approve",
        "published_with_changes",
        "warranty.approve_replacement",
        lambda now: Replacement.objects.filter(status=ReplacementStatus.PROPOSED),
        "admin:warranty_replacement_changelist",
        {"status__exact": ReplacementStatus.PROPOSED},
        "Warranty inspections passed: approve the replacement so the warehouse ships it.",
    ),
    Queue(
        "parcels_to_receive",
        "Parcels to receive",
        "local_shipping",
        "shipments.receive_parcel",
        lambda now: Claim.objects.filter(awaiting_parcel_since__isnull=False),
        "admin:returns_claim_changelist",
        {"parcel": "any"},
        "Approved claims whose parcel is on its way: scan each RMA number on Receive parcel.",
    ),
    Queue(
        "items_to_inspect",
        "Items to inspect",
        "fact_check",
        "inspections.complete_inspection",
        # From the shipped claims (an index on status), not from every received parcel: most of those are long done.
        lambda now: Claim.objects.filter(status=ClaimStatus.SHIPPED, return_parcel__received_at__isnull=False),
        "admin:inspections_queue",
        {},
        "Received parcels whose items wait for the checklist.",
    ),
    Queue(
        "replacements_to_ship",
        "Replacements to ship",
        "outbox",
        "warranty.add_replacement",
        lambda now: Replacement.objects.filter(status=ReplacementStatus.APPROVED),
        "admin:warranty_replacement_changelist",
        {"status__exact": ReplacementStatus.APPROVED},
        "Approved replacements: pack, ship and enter the serial and tracking number.",
    ),
    Queue(
        "refunds_to_approve",
        "Refunds to approve",
        "request_quote",
        "refunds.approve_refund",
        lambda now: Refund.objects.filter(status__in=AWAITING_APPROVAL_STATUSES),
        "admin:refunds_refund_changelist",
        {"status": "open"},
        "Proposed after inspection (or a second approval above the threshold): check and approve.",
    ),
    Queue(
        "refunds_failed",
        "Failed refunds",
        "error",
        "refunds.approve_refund",
        lambda now: Refund.objects.filter(status=RefundStatus.FAILED),
        "admin:refunds_refund_changelist",
        {"status": RefundStatus.FAILED},
        "The provider refused or the retries ran out: retry, or pay by hand and record it.",
    ),
)
_BY_KEY = {queue.key: queue for queue in QUEUES}


def queue_url(queue: Queue) -> str:
    url = reverse(queue.url_name)
    return f"{url}?{urlencode(queue.query)}" if queue.query else url


def _capped_count_sql(queryset: QuerySet) -> tuple[str, tuple]:
    sql, params = queryset.order_by().values("pk")[:CAP].query.sql_with_params()
    return f"(SELECT COUNT(*) FROM ({sql}) AS q)", params


def counts(request) -> dict[str, int]:
    """The user's queues counted (capped at ``CAP``), plus ``to_answer_urgent``: one query, once per request."""
    cached = getattr(request, "_queue_counts", None)
    if cached is not None:
        return cached
    now = timezone.now()
    wanted = {queue.key: queue.waiting(now) for queue in QUEUES if request.user.has_perm(queue.permission)}
    if "to_answer" in wanted:
        wanted["to_answer_urgent"] = _to_answer_urgent(now)
    result = {}
    if wanted:
        parts = [_capped_count_sql(queryset) for queryset in wanted.values()]
        with connection.cursor() as cursor:
            cursor.execute(
                f"{SQL_MARK} SELECT " + ", ".join(sql for sql, _ in parts), [p for _, params in parts for p in params]
            )
            result = dict(zip(wanted, cursor.fetchone(), strict=True))
    request._queue_counts = result
    return result


def badge_words(count: int | None) -> str:
    """What a badge reads: nothing for an empty queue, "99+" past the cap."""
    if not count:
        return ""
    return f"{CAP - 1}+" if count >= CAP else str(count)


def _badge(key: str):
    def badge(request) -> str:
        return badge_words(counts(request).get(key))

    badge.__name__ = f"badge_{key}"
    return badge


# unfold reads a badge as the dotted path of a callable(request): one per queue, all reading ``counts``.
for _queue in QUEUES:
    globals()[f"badge_{_queue.key}"] = _badge(_queue.key)


def _item(request, queue: Queue) -> dict:
    waiting = counts(request)
    urgent = queue.key == "to_answer" and waiting.get("to_answer_urgent")
    link = queue_url(queue)
    item = {
        "title": queue.title,
        "icon": queue.icon,
        "link": link,
        "active": lambda request, link=link: _is_active(request, link),
        "permission": lambda request, queue=queue: request.user.has_perm(queue.permission),
    }
    if waiting.get(queue.key):  # an empty queue shows no badge at all
        item["badge"] = f"backoffice.navigation.badge_{queue.key}"
        # Red when a first response is due within the reminder window or overdue; otherwise a calm blue.
        item["badge_variant"] = "danger" if urgent else "info"
        item["badge_style"] = "solid" if urgent else ""
    return item


def _is_active(request, link: str) -> bool:
    """A queue's item is lit on its own list only: several queues share a page (the claim list) with their filters,
    so unfold's "the page is under the link" would light them all, on every claim's page too."""
    return _shows(request.path, request.GET, link)


def _shows(path: str, params, link: str) -> bool:
    """``path`` with the query ``params`` (a mapping) is the list ``link`` names: its page, with its filters."""
    link_path, _, query = link.partition("?")
    return path == link_path and all(params.get(key) == value for key, value in parse_qsl(query))


def queue_of(path: str, params) -> Queue | None:
    """The queue whose list ``path`` with ``params`` shows, or None: for an empty list's words."""
    return next((queue for queue in QUEUES if _shows(path, params, queue_url(queue))), None)


def _link(title: str, icon: str, link: str, permission=None) -> dict:
    item = {"title": title, "icon": icon, "link": link}
    if permission is not None:
        item["permission"] = permission
    return item


def _perm(name: str):
    return lambda request: request.user.has_perm(name)


def sidebar(request) -> list[dict]:
    """The sidebar: the home, a search box (templates/unfold/helpers/search.html), each of the user's roles'
    queues with their badges, the pages they start work from, and the records everyone reads."""
    user = request.user
    groups = [{"items": [_link("Home", "home", reverse("admin:index"))]}]
    if user.has_perm("returns.triage_claim"):
        groups.append(
            {
                "title": "Customer service",
                "items": [
                    _link("New claim", "add_circle", reverse("admin:returns_claim_add"), _perm("returns.add_claim")),
                    *(_item(request, _BY_KEY[key]) for key in ("to_answer", "awaiting_customer")),
                    _item(request, _BY_KEY["unsorted_messages"]),
                    _item(request, _BY_KEY["replacements_to_approve"]),
                    _item(request, _BY_KEY["unmatched_parcels"]),
                ],
            }
        )
    if user.has_perm("shipments.receive_parcel") or user.has_perm("inspections.complete_inspection"):
        groups.append(
            {
                "title": "Warehouse",
                "items": [
                    _link(
                        "Receive parcel",
                        "qr_code_scanner",
                        reverse("admin:shipments_returnparcel_receive"),
                        _perm("shipments.receive_parcel"),
                    ),
                    *(
                        _item(request, _BY_KEY[key])
                        for key in ("parcels_to_receive", "items_to_inspect", "replacements_to_ship")
                    ),
                    _link(
                        "Unmatched parcels",
                        "help_center",
                        reverse("admin:shipments_unmatchedparcel_changelist"),
                        _perm("shipments.view_unmatchedparcel"),
                    ),
                ],
            }
        )
    if user.has_perm("refunds.approve_refund"):
        groups.append(
            {
                "title": "Finance",
                "items": [_item(request, _BY_KEY[key]) for key in ("refunds_to_approve", "refunds_failed")],
            }
        )
    if access.is_manager(user):
        groups.append(
            {
                "title": "Manager",
                "items": [
                    _link("Dashboard", "monitoring", reverse("dashboard")),
                    _link("SLA per week", "timer", reverse("sla-report")),
                    _link("Closure days", "event_busy", reverse("admin:returns_closureday_changelist")),
                    _link("Policy versions", "policy", reverse("admin:returns_policyversion_changelist")),
                    _link("Products", "inventory_2", reverse("admin:returns_product_changelist")),
                    # failed and locked logins, unlocked here (accounts/admin.py)
                    _link(
                        "Failed logins",
                        "lock_person",
                        reverse("admin:axes_accessattempt_changelist"),
                        _perm("axes.view_accessattempt"),
                    ),
                ],
            }
        )
    groups.append(
        {
            "title": "Records",
            "collapsible": True,
            "items": [
                _link("Claims", "assignment", reverse("admin:returns_claim_changelist"), _perm("returns.view_claim")),
                _link("Orders", "receipt_long", reverse("admin:returns_order_changelist"), _perm("returns.view_order")),
                _link(
                    "Return parcels",
                    "package_2",
                    reverse("admin:shipments_returnparcel_changelist"),
                    _perm("shipments.view_returnparcel"),
                ),
                _link(
                    "Inspections",
                    "fact_check",
                    reverse("admin:inspections_inspection_changelist"),
                    _perm("inspections.view_inspection"),
                ),
                _link("Refunds", "payments", reverse("admin:refunds_refund_changelist"), _perm("refunds.view_refund")),
                _link(
                    "Replacements",
                    "autorenew",
                    reverse("admin:warranty_replacement_changelist"),
                    _perm("warranty.view_replacement"),
                ),
                _link(
                    "Emails",
                    "mail",
                    reverse("admin:inbox_inboundmessage_changelist"),
                    _perm("inbox.view_inboundmessage"),
                ),
                _link("Needs attention", "report", reverse("attention")),
            ],
        }
    )
    return groups


def show_all_applications(request) -> bool:
    """Every model of every app, under the sidebar's own groups: for superusers, who administer the site."""
    return request.user.is_superuser


def home(request, context: dict) -> dict:
    """The home page: the user's queues with their counts and one-click links (templates/admin/index.html)."""
    waiting = counts(request)
    context["queues"] = [
        {
            "key": queue.key,
            "title": queue.title,
            "icon": queue.icon,
            "hint": queue.hint,
            "url": queue_url(queue),
            "count": waiting[queue.key],
            "words": badge_words(waiting[queue.key]) or "0",
            "urgent": queue.key == "to_answer" and bool(waiting.get("to_answer_urgent")),
        }
        for queue in QUEUES
        if queue.key in waiting
    ]
    context["is_manager"] = access.is_manager(request.user)
    return context
