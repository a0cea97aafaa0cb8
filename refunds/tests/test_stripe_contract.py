"""The Stripe fake against the recorded contract, then the adapter against the fake.

``contract/stripe_refunds.json`` holds request/response pairs for the parts of
Stripe's Refunds API the adapter uses, with the documentation pages they come
from. The fake must answer each one as recorded; only then are the adapter's
tests against the fake worth anything.
"""

import base64
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path

import pytest

from refunds import providers
from refunds.tests.stripe_fake import StripeFake

CONTRACT = json.loads((Path(__file__).parent / "contract" / "stripe_refunds.json").read_text())


def send(fake: StripeFake, request: dict, pi: str):
    def fill(value):
        return value.replace("{pi}", pi) if isinstance(value, str) else value

    form = {k: fill(v) for k, v in request.get("form", {}).items()}
    query = {k: fill(v) for k, v in request.get("query", {}).items()}
    url = fake.url + request["path"] + (f"?{urllib.parse.urlencode(query)}" if query else "")
    key = request.get("secret_key", CONTRACT["secret_key"])
    headers = {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}
    if request.get("idempotency_key"):
        headers["Idempotency-Key"] = request["idempotency_key"]
    data = urllib.parse.urlencode(form).encode() if request["method"] == "POST" else None
    http_request = urllib.request.Request(url, data=data, method=request["method"], headers=headers)
    try:
        with urllib.request.urlopen(http_request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def matches(expected, actual, pi: str) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k], pi) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a, pi) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, str):
        expected = expected.replace("{pi}", pi)
        if expected.endswith("*"):
            return isinstance(actual, str) and actual.startswith(expected[:-1])
    return expected == actual


class Pending(threading.Thread):
    """A request sent from a thread, so that the next step can be sent while it is in flight."""

    def __init__(self, fake, request, pi):
        super().__init__()
        self.fake, self.request, self.pi, self.answer = fake, request, pi, None

    def run(self):
        self.answer = send(self.fake, self.request, self.pi)


@pytest.fixture
def fake():
    server = StripeFake(secret_key=CONTRACT["secret_key"]).start()
    yield server
    server.stop()


@pytest.mark.parametrize("scenario", CONTRACT["scenarios"], ids=lambda s: s["name"])
def test_fake_answers_as_the_contract_records(fake, scenario):
    given = CONTRACT["given"]["payment_intent"]
    pi = fake.add_payment_intent(given["amount"], given["currency"], pi_id=given["id"])
    setup = scenario.get("setup", {})
    if "slow" in setup:
        fake.slow(setup["slow"])
    if "fail_after" in setup:
        fake.fail_after(setup["fail_after"])
    if "refund_status" in setup:
        fake.refund_status, fake.failure_reason = setup["refund_status"], setup.get("failure_reason")

    answers = []
    pending = None
    for number, step in enumerate(scenario["steps"]):
        if step.get("concurrent_with_previous"):
            assert fake.in_flight.wait(5), "the previous request never reached the endpoint"
            answers.append(send(fake, step["request"], pi))
            pending.join(10)
            answers.insert(number - 1, pending.answer)
            continue
        next_is_concurrent = number + 1 < len(scenario["steps"]) and scenario["steps"][number + 1].get(
            "concurrent_with_previous"
        )
        if next_is_concurrent:
            pending = Pending(fake, step["request"], pi)
            pending.start()
            continue
        answers.append(send(fake, step["request"], pi))

    for number, (step, (status, body, headers)) in enumerate(zip(scenario["steps"], answers, strict=True)):
        expected = step["response"]
        assert status == expected["status"], f"step {number}: {status} {body}"
        if "body" in expected:
            assert matches(expected["body"], body, pi), f"step {number}: {body}"
        if "same_body_as_step" in expected:
            assert body == answers[expected["same_body_as_step"]][1], f"step {number} is not a replay"
        for name, value in expected.get("headers", {}).items():
            assert headers.get(name) == value, f"step {number}: header {name} is {headers.get(name)!r}"
    if "refunds_created" in scenario.get("then", {}):
        assert fake.refunds_created(pi) == scenario["then"]["refunds_created"]


# --- The adapter against the fake --------------------------------------------------------


def adapter(fake: StripeFake, timeout: float = 5) -> providers.StripeProvider:
    return providers.StripeProvider(api_base=fake.url, secret_key=fake.secret_key, timeout=timeout)


def refund_request(pi: str, amount="12.50", currency="USD", key="rma-refund-k-1", **kwargs):
    return providers.RefundRequest(
        payment_reference=pi,
        amount=Decimal(amount),
        currency=currency,
        idempotency_key=key,
        refund_key="k",
        metadata={"rma_number": "RMA-2026-000001"},
        **kwargs,
    )


def test_adapter_sends_minor_units_key_and_metadata_and_reads_the_refund(fake):
    pi = fake.add_payment_intent(5000, "usd")

    result = adapter(fake).refund(refund_request(pi))

    assert result.status == "succeeded" and result.reference.startswith("re_")
    (refund,) = fake.refunds
    assert refund["amount"] == 1250 and refund["metadata"] == {"rma_number": "RMA-2026-000001", "refund_key": "k"}
    assert fake.requests_to("POST", "/v1/refunds")[0]["key"] == "rma-refund-k-1"


def test_adapter_uses_the_currency_minor_unit(fake):
    pi = fake.add_payment_intent(10_000, "jpy")

    adapter(fake).refund(refund_request(pi, amount="1500", currency="JPY"))

    assert fake.refunds[0]["amount"] == 1500


def test_adapter_retried_with_the_same_key_pays_once(fake):
    pi = fake.add_payment_intent(5000)

    first = adapter(fake).refund(refund_request(pi))
    second = adapter(fake).refund(refund_request(pi))

    assert first.reference == second.reference and second.detail["replayed"] is True
    assert fake.refunds_created(pi) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_adapter_reports_a_server_fault_as_unavailable(fake, status):
    pi = fake.add_payment_intent(5000)
    fake.fail_before(1, status)

    with pytest.raises(providers.ProviderUnavailable, match=str(status)):
        adapter(fake).refund(refund_request(pi))
    assert adapter(fake).refund(refund_request(pi)).status == "succeeded"  # nothing was saved: the retry goes through
    assert fake.refunds_created(pi) == 1


def test_adapter_reports_a_409_in_flight_as_unavailable(fake):
    pi = fake.add_payment_intent(5000)
    fake.slow(1.0)
    first = threading.Thread(target=lambda: adapter(fake).refund(refund_request(pi)))
    first.start()
    assert fake.in_flight.wait(5)

    with pytest.raises(providers.ProviderUnavailable, match="409"):
        adapter(fake).refund(refund_request(pi))
    first.join()
    assert fake.refunds_created(pi) == 1


def test_adapter_reports_a_timeout_as_unavailable(fake):
    pi = fake.add_payment_intent(5000)
    fake.slow(1.5)

    with pytest.raises(providers.ProviderUnavailable, match="could not be reached"):
        adapter(fake, timeout=0.3).refund(refund_request(pi))


def test_adapter_reports_a_refusal_as_declined_with_stripes_message(fake):
    pi = fake.add_payment_intent(1000)

    with pytest.raises(providers.ProviderDeclined, match=r"400 invalid_request_error.*greater than unrefunded"):
        adapter(fake).refund(refund_request(pi, amount="12.50"))


def test_adapter_reports_a_failed_refund_with_its_failure_reason(fake):
    pi = fake.add_payment_intent(5000)
    fake.refund_status, fake.failure_reason = "failed", "expired_or_canceled_card"

    with pytest.raises(providers.ProviderDeclined, match="expired_or_canceled_card"):
        adapter(fake).refund(refund_request(pi))


def test_adapter_with_a_wrong_key_is_declined(fake):
    pi = fake.add_payment_intent(5000)
    wrong = providers.StripeProvider(api_base=fake.url, secret_key="sk_test_wrong", timeout=5)

    with pytest.raises(providers.ProviderDeclined, match="401"):
        wrong.refund(refund_request(pi))


def test_adapter_in_a_later_round_finds_the_refund_a_500_hid(fake):
    pi = fake.add_payment_intent(5000)
    fake.create_then_fail(1)  # Stripe made the refund, then answered 500 (saved under that key)
    with pytest.raises(providers.ProviderUnavailable):
        adapter(fake).refund(refund_request(pi, key="rma-refund-k-1"))

    result = adapter(fake).refund(refund_request(pi, key="rma-refund-k-2", reconcile=True))

    assert result.reference == fake.refunds[0]["id"]
    assert fake.refunds_created(pi) == 1
    assert len(fake.requests_to("POST", "/v1/refunds")) == 1  # found by listing, not paid again


def test_adapter_keeps_one_connection_open_for_many_refunds(fake):
    pis = [fake.add_payment_intent(5000) for _ in range(3)]

    for number, pi in enumerate(pis):
        adapter(fake).refund(refund_request(pi, key=f"rma-refund-k{number}-1"))

    assert fake.connections == 1
    assert all(fake.refunds_created(pi) == 1 for pi in pis)


def test_requests_on_a_kept_connection_do_not_wait_for_a_delayed_ack(fake):
    # An answer written in two parts would wait about 40 ms a request for the client's delayed ACK.
    pis = [fake.add_payment_intent(5000) for _ in range(20)]
    adapter(fake).refund(refund_request(pis[0], key="rma-refund-warm-1"))

    started = time.perf_counter()
    for number, pi in enumerate(pis[1:]):
        adapter(fake).refund(refund_request(pi, key=f"rma-refund-k{number}-1"))

    assert time.perf_counter() - started < 0.5  # 19 × 40 ms would be 0.76 s
    assert fake.connections == 1


def test_adapter_opens_a_new_connection_when_the_server_closed_the_kept_one(fake):
    first, second = fake.add_payment_intent(5000), fake.add_payment_intent(5000)
    adapter(fake).refund(refund_request(first, key="rma-refund-a-1"))
    fake.drop_connections()  # the server's idle timeout, or a restart

    result = adapter(fake).refund(refund_request(second, key="rma-refund-b-1"))

    assert result.status == "succeeded" and result.reference == fake.refunds[1]["id"]
    assert fake.connections == 2
    assert fake.refunds_created(first) == fake.refunds_created(second) == 1
    assert len(fake.requests_to("POST", "/v1/refunds")) == 2


def test_adapter_never_reads_a_late_answer_as_the_next_requests(fake):
    late, next_pi = fake.add_payment_intent(5000), fake.add_payment_intent(5000)
    fake.slow(0.6)
    with pytest.raises(providers.ProviderUnavailable, match="could not be reached"):
        adapter(fake, timeout=0.2).refund(refund_request(late, key="rma-refund-late-1"))

    result = adapter(fake).refund(refund_request(next_pi, key="rma-refund-next-1"))

    assert result.reference == next((r["id"] for r in fake.refunds if r["payment_intent"] == next_pi), None)
    assert fake.connections == 2


PROXY_USER, PROXY_PASSWORD = "rma-worker", "pr0xy s3cret"


@pytest.fixture
def forward_proxy():
    """A real forward proxy on loopback (proxy.py) that wants credentials, as a company's egress proxy does."""
    import proxy

    flags = ["--hostname", "127.0.0.1", "--port", "0", "--threaded", "--num-acceptors", "1", "--num-workers", "1"]
    with proxy.Proxy([*flags, "--basic-auth", f"{PROXY_USER}:{PROXY_PASSWORD}", "--log-level", "WARNING"]) as server:
        yield server


def proxy_from_environment(monkeypatch, url: str, no_proxy: str = "") -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)  # the fake speaks http: HTTP_PROXY is the one that applies
    monkeypatch.setenv("NO_PROXY", no_proxy)


def test_adapter_reaches_stripe_through_the_proxy_the_environment_names(fake, forward_proxy, monkeypatch):
    proxy_at = f"127.0.0.1:{forward_proxy.flags.port}"
    pi = fake.add_payment_intent(5000)
    # Wrong credentials: the proxy answers 407, the refund is retried later, and nothing reached Stripe.
    proxy_from_environment(monkeypatch, f"http://{PROXY_USER}:wrong@{proxy_at}")
    with pytest.raises(providers.ProviderUnavailable, match="407 Proxy Authentication Required"):
        adapter(fake).refund(refund_request(pi))
    assert fake.connections == 0

    user, password = (urllib.parse.quote(part, safe="") for part in (PROXY_USER, PROXY_PASSWORD))
    proxy_from_environment(monkeypatch, f"http://{user}:{password}@{proxy_at}")
    result = adapter(fake).refund(refund_request(pi))

    assert result.status == "succeeded" and fake.refunds_created(pi) == 1
    assert len(fake.requests_to("POST", "/v1/refunds")) == 1


def test_adapter_goes_straight_to_a_host_no_proxy_names(fake, monkeypatch):
    with socket.socket() as unused:  # a proxy address where nothing listens: a refund sent there fails
        unused.bind(("127.0.0.1", 0))
        dead_proxy = f"http://127.0.0.1:{unused.getsockname()[1]}"
    pi = fake.add_payment_intent(5000)
    proxy_from_environment(monkeypatch, dead_proxy, no_proxy="example.com")
    with pytest.raises(providers.ProviderUnavailable, match="could not be reached"):
        adapter(fake).refund(refund_request(pi))

    proxy_from_environment(monkeypatch, dead_proxy, no_proxy="localhost,127.0.0.1")

    assert adapter(fake).refund(refund_request(pi)).status == "succeeded"
    assert fake.refunds_created(pi) == 1


def test_minor_units_rounds_half_up_to_the_currency():
    assert providers.minor_units(Decimal("12.345"), "EUR") == 1235
    assert providers.minor_units(Decimal("1500"), "JPY") == 1500
    assert providers.minor_units(Decimal("1.234"), "KWD") == 1234
