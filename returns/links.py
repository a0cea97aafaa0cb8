"""The signed link in the approval email where the customer enters the return parcel's tracking.

No login: the token names the claim and its RMA number, signed with the secret
key, and expires (``RETURN_LINK_MAX_AGE_DAYS``). The page that takes it is the
shipments app's; this module only makes and reads tokens.
"""

from django.conf import settings
from django.core import signing
from django.urls import reverse

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
            f"This link has expired (links last {settings.RETURN_LINK_MAX_AGE_DAYS} days). "
            f"Reply to our email or write to {settings.RMA_SUPPORT_EMAIL} with your RMA number and tracking number."
        ) from None
    except signing.BadSignature:
        raise BadLink(
            "This link is not valid: it may have been cut short when it was copied. "
            "Open it again from our email, or reply to that email with your tracking number."
        ) from None
    claim = Claim.objects.filter(pk=data.get("claim"), rma_number=data.get("rma")).select_related("order").first()
    if claim is None:
        raise BadLink(f"We cannot find this return any more. Please write to {settings.RMA_SUPPORT_EMAIL}.")
    return claim
