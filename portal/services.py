"""The customer's writes, each through ``returns``' services as ``actors.CUSTOMER``.

The views call these only after a signed link (``returns.links``) proved whose order or claim it is.
Every rule stays in ``returns``: these functions put the customer's form together into the calls customer
service would make, in one transaction, and add what only the customer's side decides (docs/portal.md):
a claim outside every open window is refused before it is made, with the day the window closed.
"""

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core import actors
from portal import selectors
from returns import links, notifications
from returns import services as claim_services
from returns.models import Claim, ClaimType, Order, ReceivedDateSource

CUSTOMER = actors.CUSTOMER


# --- Finding the order ------------------------------------------------------


@dataclass(frozen=True)
class Throttled(Exception):
    """Too many lookups from one address or for one email: ``retry_after`` seconds until the next window."""

    retry_after: int
    per: str  # "address" or "email"


def lookup_count(*, client_address: str, email: str) -> None:
    """Count one lookup against the client's address and the email; raise ``Throttled`` past either limit.

    Fixed windows of ``PORTAL_LOOKUP_WINDOW_SECONDS`` in the cache (Redis in production). Every attempt
    counts, found or not, so the limit says nothing about whether an order exists.
    """
    window = settings.PORTAL_LOOKUP_WINDOW_SECONDS
    now = time.time()
    bucket = int(now // window)
    retry_after = int(window - now % window) + 1
    limits = (
        ("address", client_address, settings.PORTAL_LOOKUPS_PER_ADDRESS),
        ("email", email.strip().lower(), settings.PORTAL_LOOKUPS_PER_EMAIL),
    )
    for per, value, limit in limits:
        key = f"portal:lookup:{per}:{hashlib.sha256(value.encode()).hexdigest()}:{bucket}"
        cache.add(key, 0, timeout=window + 60)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr
            cache.set(key, 1, timeout=window + 60)
            count = 1
        if count > limit:
            raise Throttled(retry_after=retry_after, per=per)


def order_find(*, order_number: str, email: str) -> Order | None:
    """The order with this number placed with this email (both as typed, case and a leading # aside)."""
    number, email = order_number.strip(), email.strip()
    if not number or not email:
        return None
    bare = number.lstrip("#").strip()
    candidates = {number, bare, f"#{bare}"}
    for candidate in sorted(candidates):
        order = Order.objects.filter(number__iexact=candidate, customer_email__iexact=email).first()
        if order is not None:
            return order
    return None


def order_link_request(*, order_number: str, email: str, language: str) -> None:
    """Queue the lookup: found or not, the page says the same and returns as fast."""
    from portal import tasks

    transaction.on_commit(lambda: tasks.send_order_link.delay(order_number, email, language), robust=True)


def order_link_send(*, order_number: str, email: str, language: str) -> bool:
    """Email the order's link to the address the order was placed with; nothing when no order matches."""
    order = order_find(order_number=order_number, email=email)
    if order is None:
        return False
    with transaction.atomic():
        notifications.email_order_link(order=order, url=links.order_url(order), language=language)
    return True


# --- A claim ----------------------------------------------------------------


@dataclass
class ClaimSubmission:
    """The claim form's values, checked in shape by the form."""

    claim_type: str
    doa_reason: str
    description: str
    units: dict[int, int]
    whole_package_photos: list
    other_files: list
    submission_key: uuid.UUID
    received_on: date | None = None  # stated by the customer when the order has no received date
    proof: object = None  # the file that shows it


def claim_submit(*, order: Order, submission: ClaimSubmission, language: str) -> Claim:
    """Make the customer's claim: ``claim_create`` as the customer, their files through ``evidence_add``
    (the whole-package photo marked so), and a stated received date with its proof through
    ``order_set_received_on`` (source: the customer's proof). One transaction: all of it or nothing.

    Refused before anything is made (``ValidationError`` per field): a type whose window closed for the
    chosen units (the message says until when it was open), units not free, no whole-package photo where
    the policy requires it, a received date missing where the order has none.
    """
    errors: dict[str, list[str]] = {}
    chosen = {line_id: count for line_id, count in submission.units.items() if count}
    lines = {line.pk: line for line in order.lines.select_related("product")}
    received_on = order.received_on or submission.received_on
    if order.received_on is None:
        if submission.received_on is None:
            errors.setdefault("received_on", []).append(_("Tell us the day the parcel reached you."))
        if not submission.proof:
            errors.setdefault("proof", []).append(
                _("Attach a proof of the delivery day: the carrier's delivery message or a photo of it.")
            )
    if chosen and received_on and submission.claim_type in ClaimType.values:
        closed = selectors.window_closed(
            order=order, lines=[lines[i] for i in chosen if i in lines], claim_type=submission.claim_type,
            received_on=received_on,
        )  # fmt: skip
        if closed:
            errors.setdefault("claim_type", []).append(closed)
    needs_photo = submission.claim_type in ClaimType.values and not submission.whole_package_photos
    if needs_photo and selectors.whole_package_photo_required(submission.claim_type):
        errors.setdefault("whole_package_photo", []).append(
            _("Add a photo of the whole package or box: the policy requires one for every claim.")
        )
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            claim = claim_services.claim_create(
                order=order,
                claim_type=submission.claim_type,
                doa_reason=submission.doa_reason if submission.claim_type == ClaimType.DOA else "",
                description=submission.description,
                units=chosen,
                by=CUSTOMER,
                submission_key=submission.submission_key,
                language=language,
            )
            for upload in submission.whole_package_photos:
                claim_services.evidence_add(claim_id=claim.pk, by=CUSTOMER, upload=upload, shows_whole_package=True)
            for upload in submission.other_files:
                claim_services.evidence_add(claim_id=claim.pk, by=CUSTOMER, upload=upload)
            if order.received_on is None:
                proof = claim_services.evidence_add(claim_id=claim.pk, by=CUSTOMER, upload=submission.proof)
                claim_services.order_set_received_on(
                    order_id=order.pk,
                    by=CUSTOMER,
                    received_on=submission.received_on,
                    source=ReceivedDateSource.CUSTOMER_PROOF,
                    reason=f"Stated by the customer with claim #{claim.pk}; proof: “{proof.original_name}” "
                    f"(evidence #{proof.pk}).",
                )
    except claim_services.UnitsTaken as taken:
        raise ValidationError({f"units_{line_id}": [_units_taken_words()] for line_id in taken.by_line}) from None
    return claim


def _units_taken_words() -> str:
    return _("Fewer units of this item can still be claimed: the others are in another claim or were refunded.")


def claim_answer(*, claim: Claim, answer: str, files: list) -> Claim:
    """The customer answers an information request, with photos: the 24-hour clock starts again."""
    with transaction.atomic():
        for upload in files:
            claim_services.evidence_add(claim_id=claim.pk, by=CUSTOMER, upload=upload)
        return claim_services.claim_record_customer_answer(claim_id=claim.pk, by=CUSTOMER, answer=answer)


def claim_add_files(*, claim: Claim, files: list, whole_package: bool) -> None:
    with transaction.atomic():
        for upload in files:
            claim_services.evidence_add(
                claim_id=claim.pk, by=CUSTOMER, upload=upload, shows_whole_package=whole_package
            )


def claim_cancel(*, claim: Claim, reason: str) -> Claim:
    words = "Cancelled by the customer on the claim's page."
    if reason.strip():
        words += f" Their words: {reason.strip()}"
    return claim_services.claim_cancel(claim_id=claim.pk, by=CUSTOMER, reason=words)
