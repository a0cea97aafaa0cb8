"""A local HTTP server that speaks Stripe's Refunds API (v1) as documented, for tests and the benchmark.

What it implements (``contract/stripe_refunds.json`` records it, ``test_stripe_contract.py`` checks it):

- ``POST /v1/refunds``, form-encoded: ``payment_intent`` (or ``charge``), ``amount`` in the currency's
  smallest unit (default: what is left to refund), ``reason``, ``metadata[...]``; unknown parameters
  are a 400 ``parameter_unknown``. A refund of more than is left is a 400.
- ``GET /v1/refunds?payment_intent=…`` (a list object) and ``GET /v1/refunds/{id}``.
- Authentication: ``Authorization: Bearer <secret key>`` (or HTTP Basic with the key as user), else 401.
- ``Idempotency-Key``: the first response is saved once the endpoint started executing (errors
  included, 500s too) and replayed, with ``Idempotent-Replayed: true``, for the same key and the same
  parameters; the same key with other parameters is a 400 ``idempotency_error``; a request while one
  with the same key is still running gets a 409 and nothing is saved. Validation errors are not saved.

Controls for tests: ``fail_before(n, status)`` (a fault before the idempotency layer, nothing saved,
as a load balancer's 503), ``fail_after(n)`` (the endpoint began, then a 500 that is saved and
replayed), ``create_then_fail(n)`` (the refund is made, but a 500 is saved: the indeterminate
case), ``slow(seconds, n)`` (a call sleeps inside the endpoint, so a test can kill the worker), and
``refund_status`` / ``failure_reason`` for refunds that Stripe reports as failed.
``refunds_created(pi)`` counts the refunds that moved money per PaymentIntent.

HTTP/1.1 with keep-alive, as Stripe's API is: a client may send many requests on one connection.
``connections`` counts the connections accepted; ``drop_connections()`` closes every open one, as a
server's idle timeout or a restart does (``stop()`` does too: a stopped fake answers nothing).
"""

import base64
import contextlib
import itertools
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

KNOWN_PARAMS = {
    "amount",
    "charge",
    "currency",
    "customer",
    "instructions_email",
    "origin",
    "payment_intent",
    "reason",
    "refund_application_fee",
    "reverse_transfer",
}
REASONS = {"duplicate", "fraudulent", "requested_by_customer"}
LIVE = ("succeeded", "pending", "requires_action")


class StripeFake:
    def __init__(self, secret_key: str = "sk_test_fake_refunds"):
        self.secret_key = secret_key
        self.lock = threading.Lock()
        self.payment_intents: dict[str, dict] = {}
        self.refunds: list[dict] = []
        self.saved: dict[str, dict] = {}  # idempotency key → {"params", "status", "body"}
        self.running: set[str] = set()
        self.requests: list[dict] = []  # every request: method, path, key, status
        self.connections = 0  # TCP connections accepted
        self._open: set[socket.socket] = set()
        self.in_flight = threading.Event()  # set while a slow call sleeps inside the endpoint
        self._fail_before = (0, 500)
        self._fail_after = 0
        self._create_then_fail = 0
        self._slow = (0.0, 0)
        self.refund_status = "succeeded"
        self.failure_reason = None
        self._ids = itertools.count(1)
        fake = self

        class Handler(_Handler):
            stripe = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="stripe-fake", daemon=True)

    # --- lifecycle and set-up -----------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "StripeFake":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.drop_connections()

    def drop_connections(self) -> None:
        """Close the server's side of every open connection, as its idle timeout or a restart does."""
        with self.lock:
            open_now = list(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):  # closed by the client meanwhile
                connection.shutdown(socket.SHUT_RDWR)

    def add_payment_intent(self, amount: int, currency: str = "usd", pi_id: str | None = None) -> str:
        pi_id = pi_id or f"pi_{secrets.token_hex(12)}"
        with self.lock:
            self.payment_intents[pi_id] = {"amount": amount, "currency": currency.lower(), "refunded": 0}
        return pi_id

    def fail_before(self, times: int, status: int = 503) -> None:
        self._fail_before = (times, status)

    def fail_after(self, times: int) -> None:
        self._fail_after = times

    def create_then_fail(self, times: int) -> None:
        self._create_then_fail = times

    def slow(self, seconds: float, times: int = 1) -> None:
        self.in_flight.clear()
        self._slow = (seconds, times)

    # --- what tests read ------------------------------------------------------------------

    def refunds_created(self, pi_id: str) -> int:
        with self.lock:
            return sum(1 for r in self.refunds if r["payment_intent"] == pi_id and r["status"] in LIVE)

    def requests_to(self, method: str, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["method"] == method and r["path"] == path]

    # --- the endpoint ---------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict, headers, form: list[tuple[str, str]]):
        """(status, body, extra headers) for one request."""
        if not self._authorized(headers.get("Authorization", "")):
            return 401, _error("invalid_request_error", "Invalid API Key provided."), {}
        with self.lock:
            times, status = self._fail_before
            if times:
                self._fail_before = (times - 1, status)
                return status, _error("api_error", "Something went wrong on Stripe's end (before the request ran)."), {}
        if method == "GET" and path == "/v1/refunds":
            return self._list(query)
        if method == "GET" and path.startswith("/v1/refunds/"):
            refund = next((r for r in self.refunds if r["id"] == path.rsplit("/", 1)[1]), None)
            if refund is None:
                return (
                    404,
                    _error(
                        "invalid_request_error", f"No such refund: '{path.rsplit('/', 1)[1]}'", code="resource_missing"
                    ),
                    {},
                )
            return 200, refund, {}
        if method == "POST" and path == "/v1/refunds":
            return self._create(headers.get("Idempotency-Key"), form)
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path})."), {}

    def _create(self, key: str | None, form: list[tuple[str, str]]):
        params = dict(form)
        with self.lock:
            if key is not None:
                if key in self.running:
                    return (
                        409,
                        _error(
                            "idempotency_error",
                            "There is currently another in-progress request using this Idempotent Key "
                            "(that probably means you submitted twice, and the other request is still going through). "
                            "Please try again later.",
                            code="idempotency_key_in_use",
                        ),
                        {},
                    )
                if key in self.saved:
                    saved = self.saved[key]
                    if saved["params"] != params:
                        return (
                            400,
                            _error(
                                "idempotency_error",
                                f"Keys for idempotent requests can only be used with the same parameters they were "
                                f"first used with. Try using a key other than '{key}' if you meant to execute a "
                                "different request.",
                            ),
                            {},
                        )
                    return (
                        saved["status"],
                        saved["body"],
                        {"Idempotent-Replayed": "true", "Original-Request": saved["request_id"]},
                    )
            problem = _validate(params)
            if problem:
                return 400, problem, {}  # validation: the endpoint never ran, nothing saved
            if key is not None:
                self.running.add(key)
            seconds, times = self._slow
            if times:
                self._slow = (seconds, times - 1)
        try:
            if times and seconds:
                self.in_flight.set()
                time.sleep(seconds)
            with self.lock:
                status, body = self._execute(params)
                if key is not None:
                    self.saved[key] = {
                        "params": params,
                        "status": status,
                        "body": body,
                        "request_id": f"req_{secrets.token_hex(7)}",
                    }
            return status, body, {}
        finally:
            if key is not None:
                with self.lock:
                    self.running.discard(key)

    def _execute(self, params: dict):
        pi_id = params.get("payment_intent")
        pi = self.payment_intents.get(pi_id)
        if pi is None:
            return 400, _error(
                "invalid_request_error",
                f"No such payment_intent: '{pi_id}'",
                code="resource_missing",
                param="payment_intent",
            )
        if self._fail_after:
            self._fail_after -= 1
            return 500, _error("api_error", "An unknown error occurred while processing the refund.")
        remaining = pi["amount"] - pi["refunded"]
        amount = int(params["amount"]) if "amount" in params else remaining
        if remaining <= 0:
            return 400, _error(
                "invalid_request_error",
                f"Charge for {pi_id} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount > remaining:
            return 400, _error(
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                param="amount",
            )
        refund = {
            "id": f"re_{next(self._ids):04d}{secrets.token_hex(10)}",
            "object": "refund",
            "amount": amount,
            "balance_transaction": f"txn_{secrets.token_hex(12)}",
            "charge": f"ch_{pi_id[3:]}",
            "created": int(time.time()),
            "currency": pi["currency"],
            "metadata": {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")},
            "payment_intent": pi_id,
            "reason": params.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": self.refund_status,
            "transfer_reversal": None,
        }
        if self.refund_status == "failed":
            refund["failure_reason"] = self.failure_reason or "unknown"
        self.refunds.append(refund)
        if refund["status"] in LIVE:
            pi["refunded"] += amount
        if self._create_then_fail:
            self._create_then_fail -= 1
            return 500, _error("api_error", "An unknown error occurred while processing the refund.")
        return 200, refund

    def _list(self, query: dict):
        with self.lock:
            data = [
                r
                for r in reversed(self.refunds)
                if not query.get("payment_intent") or r["payment_intent"] == query["payment_intent"]
            ]
        limit = int(query.get("limit", 10))
        return 200, {"object": "list", "data": data[:limit], "has_more": len(data) > limit, "url": "/v1/refunds"}, {}

    def _authorized(self, header: str) -> bool:
        if header.startswith("Bearer "):
            return header[len("Bearer ") :] == self.secret_key
        if header.startswith("Basic "):
            try:
                user = base64.b64decode(header[len("Basic ") :]).decode().split(":", 1)[0]
            except ValueError:
                return False
            return user == self.secret_key
        return False


def _validate(params: dict) -> dict | None:
    for name in params:
        if (name.startswith("metadata[") and name.endswith("]")) or name.startswith("expand["):
            continue
        if name not in KNOWN_PARAMS:
            return _error(
                "invalid_request_error", f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )
    if not params.get("payment_intent") and not params.get("charge"):
        return _error(
            "invalid_request_error",
            "One of the following params should be provided for this request: payment_intent or charge.",
            code="parameter_missing",
        )
    if "amount" in params and (not params["amount"].isdigit() or int(params["amount"]) <= 0):
        return _error(
            "invalid_request_error", "Invalid positive integer", code="parameter_invalid_integer", param="amount"
        )
    if "reason" in params and params["reason"] not in REASONS:
        return _error(
            "invalid_request_error", f"Invalid reason: must be one of {', '.join(sorted(REASONS))}", param="reason"
        )
    return None


def _error(kind: str, message: str, *, code: str | None = None, param: str | None = None) -> dict:
    error = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


class _Handler(BaseHTTPRequestHandler):
    """One connection: its requests are served in turn until the client or ``drop_connections`` closes it."""

    stripe: StripeFake
    protocol_version = "HTTP/1.1"  # keep-alive: every answer carries its Content-Length
    # An answer leaves in one write, without Nagle's delay, as a real server's does: written as headers
    # and then body, the body would wait for the client's delayed ACK of the headers on a kept-alive
    # connection (about 40 ms a request on Linux).
    wbufsize = -1
    disable_nagle_algorithm = True

    def setup(self):
        super().setup()
        with self.stripe.lock:
            self.stripe.connections += 1
            self.stripe._open.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.stripe.lock:
                self.stripe._open.discard(self.connection)

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def _serve(self, method: str):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = parse_qsl(raw, keep_blank_values=True) if method == "POST" else []
        status, body, extra = self.stripe.handle(method, parts.path, dict(parse_qsl(parts.query)), self.headers, form)
        with self.stripe.lock:
            self.stripe.requests.append(
                {"method": method, "path": parts.path, "key": self.headers.get("Idempotency-Key"), "status": status}
            )
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client died (a killed worker): the refund is made and saved all the same

    def log_message(self, format, *args):  # quiet
        pass


if __name__ == "__main__":  # a fake for manual runs: python -m refunds.tests.stripe_fake
    fake = StripeFake().start()
    print(f"Stripe fake on {fake.url}, key {fake.secret_key}")
    fake.thread.join()
