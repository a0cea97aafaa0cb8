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

Plain ``http.client``: one POST and one GET do not need another dependency. Each process (each
thread) keeps its connection to the provider open between refunds (HTTP/1.1 keep-alive), so a refund
does not pay a TCP and TLS handshake; a connection the server closed meanwhile is opened again and
the request sent once more, which the idempotency key makes safe (``_send``).
"""

import base64
import http.client
import json
import logging
import os
import ssl
import threading
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
        base = urllib.parse.urlsplit(self.api_base)
        self.origin = (base.scheme, base.hostname, base.port)
        self.path_prefix = base.path

    def refund(self, request: RefundRequest) -> RefundResult:
        if not request.payment_reference:
            raise ProviderDeclined("The order has no payment reference (Stripe PaymentIntent id) to refund against.")
        if not self.secret_key:
            raise ProviderDeclined("STRIPE_SECRET_KEY is not set.")
        if self.origin[0] not in ("http", "https") or not self.origin[1]:
            raise ProviderDeclined(f"STRIPE_API_BASE is not an http(s) URL: {self.api_base!r}.")
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
        headers = {
            "Authorization": f"Bearer {self.secret_key}",
            **({"Content-Type": "application/x-www-form-urlencoded"} if data is not None else {}),
            **headers,
        }
        try:
            status, raw, response_headers = _send(
                self.origin, method, self.path_prefix + path, data, headers, self.timeout
            )
        except (OSError, http.client.HTTPException) as error:  # timeouts and refused connections are OSErrors
            raise ProviderUnavailable(f"Stripe could not be reached: {error or type(error).__name__}") from None
        body = _json(raw)
        if status >= 400:
            reason = _reason(status, body)
            if status in (409, 429) or status >= 500:
                raise ProviderUnavailable(reason, status=status, body=body)
            raise ProviderDeclined(reason, status=status, body=body)
        return status, body, response_headers


# --- The kept-alive connection ------------------------------------------------------------

# One connection a process and thread (a prefork worker's child has its own; the pid guards against
# using one inherited across a fork), to one origin at a time.
_kept = threading.local()

# A kept-alive connection the server closed while idle fails on its next request in one of these
# ways, before any answer: the request is sent again on a new connection.
_CLOSED_WHILE_IDLE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _send(origin: tuple, method: str, path: str, body: bytes | None, headers: dict, timeout: float):
    """(status, body, headers) of one request on this process's kept-alive connection to ``origin``.

    A reused connection that the server had closed (its idle timeout, a restart) is dropped and the
    request sent once more on a new one: safe here, as the GET reads and the POST carries its
    idempotency key (Stripe answers a repeat with the first answer). Any other fault drops the
    connection (a late answer must never be read as the next request's) and is raised.
    """
    for last_try in (False, True):
        connection, reused = _connection(origin, timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except _CLOSED_WHILE_IDLE:
            _drop()
            if reused and not last_try:
                continue
            raise
        except BaseException:
            _drop()
            raise
        if response.will_close:  # the server said Connection: close, or spoke HTTP/1.0
            _drop()
        return response.status, raw, response.headers
    raise AssertionError("unreachable")


def _connection(origin: tuple, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
    """This process's connection to ``origin`` and whether it was used before; a new one when there is none."""
    proxy = _proxy(origin)
    key = (os.getpid(), origin, proxy)
    if getattr(_kept, "key", None) == key and _kept.connection is not None:
        connection = _kept.connection
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection, True
    _drop()
    scheme, host, port = origin
    # Through a proxy: a TCP connection to it, then CONNECT to Stripe's host; TLS (for https) end to end.
    address = (proxy.hostname, proxy.port or 80) if proxy else (host, port)
    if scheme == "https":
        connection = http.client.HTTPSConnection(*address, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(*address, timeout=timeout)
    if proxy:
        connection.set_tunnel(host, port, headers=_proxy_authorization(proxy))
    _kept.key, _kept.connection = key, connection
    return connection, False


def _proxy(origin: tuple) -> urllib.parse.SplitResult | None:
    """The proxy the environment names for Stripe's scheme (``HTTPS_PROXY``; ``HTTP_PROXY`` for an http base)
    unless ``NO_PROXY`` covers its host, read as ``urllib`` reads them. An http:// proxy: it is sent a CONNECT."""
    scheme, host, _ = origin
    url = urllib.request.getproxies().get(scheme)
    if not url or urllib.request.proxy_bypass(host):
        return None
    return urllib.parse.urlsplit(url if "://" in url else f"http://{url}")


def _proxy_authorization(proxy: urllib.parse.SplitResult) -> dict:
    if not proxy.username:
        return {}
    credentials = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
    return {"Proxy-Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def _drop() -> None:
    connection = getattr(_kept, "connection", None)
    _kept.key, _kept.connection = None, None
    if connection is not None:
        connection.close()  # after a fork, this process's copy of the socket only


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
