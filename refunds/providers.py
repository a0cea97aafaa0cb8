"""Payment-provider adapters: how a refund leaves the company.

``manual``: finance pays elsewhere (bank transfer, the shop's back office) and
enters the provider's reference; execution only marks the refund processing.

``stripe``: Stripe's Refunds API (API v1), as documented at
https://docs.stripe.com/api/refunds/create and https://docs.stripe.com/api/idempotent_requests:
``POST /v1/refunds`` form-encoded with ``payment_intent``, ``amount`` in the
currency's smallest unit and ``metadata[...]``, a Bearer secret key and an
``Idempotency-Key`` header. Stripe saves the first response for a key once the
endpoint started executing and replays it (500s included) for 24 hours; the
same key with other parameters is a 400 ``idempotency_error``; a request that
collides with one still running under the same key gets a 409 and nothing is
saved. ``refunds/tests/contract/stripe_refunds.json`` records that contract and
the fake in ``refunds/tests/stripe_fake.py`` speaks it.

Plain ``urllib.request``: one POST and one GET do not need another dependency.
"""

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from returns import money

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefundRequest:
    payment_reference: str
    amount: Decimal
    currency: str
    idempotency_key: str
    # Identifies the refund across rounds (a person's retry gets a new idempotency key).
    refund_key: str
    metadata: dict = field(default_factory=dict)
    # Look for a refund an earlier round may have made before creating one (rounds after the first).
    reconcile: bool = False


@dataclass(frozen=True)
class RefundResult:
    # "succeeded" or "pending": the money is on its way. "awaiting_manual": finance pays and enters it.
    status: str
    reference: str = ""
    detail: dict = field(default_factory=dict)


class ProviderError(Exception):
    def __init__(self, reason: str, *, status: int | None = None, body: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body or {}


class ProviderUnavailable(ProviderError):
    """Nothing definite came back (network error, timeout, 409, 429, 5xx): retry with the same key."""


class ProviderDeclined(ProviderError):
    """The provider answered no (4xx, or a refund whose status is failed): retrying the same request cannot help."""


class ManualProvider:
    name = "manual"

    def refund(self, request: RefundRequest) -> RefundResult:
        return RefundResult(status="awaiting_manual")


class StripeProvider:
    name = "stripe"
    # A refund in these states exists at Stripe: money is sent or on its way.
    LIVE_STATUSES = ("succeeded", "pending", "requires_action")

    def __init__(self, *, api_base: str, secret_key: str, timeout: float):
        self.api_base = api_base.rstrip("/")
        self.secret_key = secret_key
        self.timeout = timeout

    def refund(self, request: RefundRequest) -> RefundResult:
        if not request.payment_reference:
            raise ProviderDeclined("The order has no payment reference (Stripe PaymentIntent id) to refund against.")
        if not self.secret_key:
            raise ProviderDeclined("STRIPE_SECRET_KEY is not set.")
        if request.reconcile and (existing := self._find_existing(request)):
            return self._result(existing, replayed=True)
        params = {
            "payment_intent": request.payment_reference,
            "amount": str(minor_units(request.amount, request.currency)),
            "reason": "requested_by_customer",
            **{f"metadata[{key}]": str(value) for key, value in request.metadata.items()},
            "metadata[refund_key]": request.refund_key,
        }
        _, body, headers = self._call("POST", "/v1/refunds", params, {"Idempotency-Key": request.idempotency_key})
        return self._result(body, replayed=headers.get("Idempotent-Replayed") == "true")

    def _find_existing(self, request: RefundRequest) -> dict | None:
        """A refund an earlier round made (its 500 hid it): never pay it a second time."""
        query = urllib.parse.urlencode({"payment_intent": request.payment_reference, "limit": 100})
        _, body, _ = self._call("GET", f"/v1/refunds?{query}", None, {})
        for refund in body.get("data", []):
            if (refund.get("metadata") or {}).get("refund_key") == request.refund_key and refund.get(
                "status"
            ) in self.LIVE_STATUSES:
                return refund
        return None

    def _result(self, refund: dict, *, replayed: bool) -> RefundResult:
        status = refund.get("status")
        detail = {"stripe_status": status, "replayed": replayed}
        if status in self.LIVE_STATUSES:
            return RefundResult(
                status="pending" if status != "succeeded" else "succeeded", reference=refund["id"], detail=detail
            )
        reason = refund.get("failure_reason") or status or "unknown"
        raise ProviderDeclined(f"Stripe refund {refund.get('id')} is {status}: {reason}.", status=200, body=refund)

    def _call(self, method: str, path: str, params: dict | None, headers: dict) -> tuple[int, dict, dict]:
        data = urllib.parse.urlencode(params).encode() if params is not None else None
        request = urllib.request.Request(
            self.api_base + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.secret_key}",
                **({"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}),
                **headers,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _json(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            body = _json(error.read())
            reason = _reason(error.code, body)
            if error.code in (409, 429) or error.code >= 500:
                raise ProviderUnavailable(reason, status=error.code, body=body) from None
            raise ProviderDeclined(reason, status=error.code, body=body) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
            raise ProviderUnavailable(f"Stripe could not be reached: {getattr(error, 'reason', error)}") from None


def minor_units(amount: Decimal, currency: str) -> int:
    """The amount in the currency's smallest unit, as Stripe wants it (12.50 EUR → 1250, 1500 JPY → 1500)."""
    exponent = money.MINOR_UNITS[currency]
    return int(money.quantize(amount, currency).scaleb(exponent))


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {"raw": raw[:500].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"raw": value}


def _reason(status: int, body: dict) -> str:
    error = body.get("error") or {}
    parts = [f"Stripe answered {status}"]
    if error.get("type"):
        parts.append(error["type"] + (f"/{error['code']}" if error.get("code") else ""))
    message = error.get("message") or body.get("raw") or ""
    return ": ".join([" ".join(parts), message]) if message else " ".join(parts)


def get(name: str):
    if name == ManualProvider.name:
        return ManualProvider()
    if name == StripeProvider.name:
        return StripeProvider(
            api_base=settings.STRIPE_API_BASE,
            secret_key=settings.STRIPE_SECRET_KEY,
            timeout=settings.STRIPE_TIMEOUT_SECONDS,
        )
    raise ValueError(f"unknown refund provider {name!r}")
