"""The signed link in the approval email where the customer enters the return parcel's tracking.

No login: the token names the claim and its RMA number, signed with the secret
key, and expires (``RETURN_LINK_MAX_AGE_DAYS``). The page that takes it is the
shipments app's; this module only makes and reads tokens.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _

from returns.models import Claim

_SALT = "returns.tracking-link"


class BadLink(Exception):
    """The link is damaged, expired or names a claim that no longer matches; the message is for the customer."""


def tracking_url(claim: Claim) -> str:
    token = signing.dumps({"claim": claim.pk, "rma": claim.rma_number}, salt=_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("return-tracking", args=[token])


def claim_from_token(token: str) -> Claim:
    max_age = settings.RETURN_LINK_MAX_AGE_DAYS * 86400
    try:
        data = signing.loads(token, salt=_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise BadLink(
            _(
                "This link has expired (links last %(days)s days). "
                "Reply to our email or write to %(support)s with your RMA number and tracking number."
            )
            % {"days": settings.RETURN_LINK_MAX_AGE_DAYS, "support": settings.RMA_SUPPORT_EMAIL}
        ) from None
    except signing.BadSignature:
        raise BadLink(
            _(
                "This link is not valid: it may have been cut short when it was copied. "
                "Open it again from our email, or reply to that email with your tracking number."
            )
        ) from None
    claim = Claim.objects.filter(pk=data.get("claim"), rma_number=data.get("rma")).select_related("order").first()
    if claim is None:
        raise BadLink(
            _("We cannot find this return any more. Please write to %(support)s.")
            % {"support": settings.RMA_SUPPORT_EMAIL}
        )
    return claim


# --- The customer's pages (the portal app): the order link and the claim's status link -----------------
# Same pattern as the tracking link: signed with the secret key, expiring, and single-purpose (each has its
# own salt, so a tracking link does not open an order and an order link does not open a claim). The pages
# that take them are the portal app's; this module only makes and reads tokens.

_ORDER_SALT = "portal.order-link"
_CLAIM_SALT = "portal.claim-link"


def order_url(order) -> str:
    """The emailed link that opens the order's page: it names the order and the address it was placed with."""
    token = signing.dumps({"order": order.pk, "email": order.customer_email.lower()}, salt=_ORDER_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("portal-order", args=[token])


def order_from_token(token: str):
    """The order the link names, or ``BadLink`` (expired, damaged, or the order's address changed since)."""
    from returns.models import Order

    data = _load(token, _ORDER_SALT, settings.PORTAL_ORDER_LINK_MAX_AGE_HOURS * 3600)
    order = Order.objects.filter(pk=data.get("order"), customer_email__iexact=data.get("email") or "").first()
    if order is None:
        raise BadLink(_("This link no longer matches an order. Ask for a new link with your order number and email."))
    return order


def claim_status_url(claim: Claim) -> str:
    """The link in every email to the customer that opens the claim's status page."""
    token = signing.dumps({"claim": claim.pk, "order": claim.order_id}, salt=_CLAIM_SALT)
    return settings.SITE_URL.rstrip("/") + reverse("portal-claim", args=[token])


def claim_from_status_token(token: str) -> Claim:
    data = _load(token, _CLAIM_SALT, settings.PORTAL_CLAIM_LINK_MAX_AGE_DAYS * 86400)
    claim = Claim.objects.filter(pk=data.get("claim"), order_id=data.get("order")).select_related("order").first()
    if claim is None:
        raise BadLink(_("We cannot find this request any more. Ask for a new link with your order number and email."))
    return claim


class ExpiredLink(BadLink):
    """The link was good but is too old: the page offers to send a new one."""


def _load(token: str, salt: str, max_age: int) -> dict:
    try:
        data = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise ExpiredLink(_("This link has expired. Ask for a new one with your order number and email.")) from None
    except signing.BadSignature:
        raise BadLink(
            _(
                "This link is not valid: it may have been cut short when it was copied. "
                "Open it again from our email, or ask for a new one."
            )
        ) from None
    return data if isinstance(data, dict) else {}
