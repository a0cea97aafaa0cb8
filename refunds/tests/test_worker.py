"""Refund execution through a real Celery worker on Redis, against the Stripe fake.

The worker runs in a subprocess (``celery -A backoffice worker --pool=solo``) on
the test database, so a test can SIGKILL it in the middle of the provider call,
exactly as a machine dying would. The test commits for real
(``transaction=True``) so the worker sees the rows, and turns eager mode off so
the approval's task goes through Redis.
"""

import json
import os
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from decimal import Decimal

import pytest
import redis
from django.db import connection

from backoffice.celery import app
from inspections.services import inspection_propose_refund
from refunds import services, states, tasks
from refunds.models import Provider, Refund, RefundStatus
from refunds.tests.conftest import inspected_claim
from refunds.tests.worker_process import WorkerProcess, database_url
from returns.models import ClaimStatus, OutboundEmail

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
WAIT_SECONDS = 60


def wait_for(condition, seconds=WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    return condition()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _purge(broker_url: str) -> None:
    """Messages and unacknowledged deliveries an earlier (killed) run left in this broker database."""
    client = redis.Redis.from_url(broker_url)
    stale = [key for key in client.keys("celery*") if not key.startswith(b"_kombu")]
    client.delete("unacked", "unacked_index", *stale)


@contextmanager
def broker(url: str):
    """Point this process's Celery app at another broker (its connection pools are rebuilt).

    Celery reads CELERY_BROKER_URL from the environment before its configuration: both are set.
    """
    saved_env, saved_conf = os.environ.get("CELERY_BROKER_URL"), app.conf.broker_url

    def use(env_value, conf_value):
        if env_value is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = env_value
        app.conf.broker_url = conf_value
        app._pool = None
        app.amqp._producer_pool = None
        assert app.conf.broker_url == conf_value

    use(url, url)
    try:
        yield
    finally:
        use(saved_env, saved_conf)


@pytest.fixture
def no_eager():
    saved = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = saved


@pytest.fixture
def worker_env(stripe_settings, stripe_fake, smtp_inbox, settings, no_eager):
    """The environment of a worker on the test database, the suite's Redis, the fake and the SMTP server."""
    assert app.conf.broker_url.startswith("redis://"), "run through scripts/test.sh: the broker must be Redis"
    _purge(app.conf.broker_url)
    return {
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": app.conf.broker_url,
        "REFUND_PROVIDER": "stripe",
        "STRIPE_API_BASE": stripe_fake.url,
        "STRIPE_SECRET_KEY": stripe_fake.secret_key,
        "STRIPE_TIMEOUT_SECONDS": "10",
        "EMAIL_URL": f"smtp://127.0.0.1:{settings.EMAIL_PORT}",
        "REFUND_MAX_RETRIES": "2",
        "REFUND_RETRY_BACKOFF_SECONDS": "1",
        "REFUND_RETRY_BACKOFF_MAX_SECONDS": "2",
    }


@pytest.fixture
def workers(tmp_path):
    started = []

    def start(env, **kwargs):
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log", **kwargs)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()


def stripe_refund(inspector, fake, unit_price="49.90"):
    pi = fake.add_payment_intent(100_000, "usd")
    claim = inspected_claim(inspector, ["full_refund"], unit_price=unit_price, payment_reference=pi)
    refund = inspection_propose_refund(claim_id=claim.pk, by=inspector)
    assert refund.provider == Provider.STRIPE
    return refund, pi


def status_of(refund_id, *wanted):
    status = Refund.objects.values_list("status", flat=True).get(pk=refund_id)
    return status if status in wanted else None


def test_a_refund_approved_twice_at_once_is_executed_once(
    inspector, finance, stripe_fake, worker_env, workers, smtp_inbox
):
    worker = workers(worker_env)
    refund, pi = stripe_refund(inspector, stripe_fake)
    barrier = threading.Barrier(2)
    outcomes = []

    def click():
        try:
            barrier.wait()
            services.refund_approve(refund_id=refund.pk, by=finance)
            outcomes.append("approved")
        except states.InvalidTransition:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # And the same task delivered twice more (a redelivered message, a sweep running at the same time).
    tasks.execute_refund.delay(refund.pk)
    tasks.execute_refund.delay(refund.pk)

    assert sorted(outcomes) == ["approved", "refused"]
    assert wait_for(lambda: status_of(refund.pk, RefundStatus.SUCCEEDED)), worker.log_tail()
    email = OutboundEmail.objects.get(claim=refund.claim, template="refund_sent")
    assert wait_for(lambda: OutboundEmail.objects.get(pk=email.pk).status == "sent"), worker.log_tail()
    time.sleep(1)  # let the duplicates run through
    assert stripe_fake.refunds_created(pi) == 1
    assert len(stripe_fake.requests_to("POST", "/v1/refunds")) == 1
    assert Refund.objects.get(pk=refund.pk).claim.status == ClaimStatus.REFUNDED
    # sent by the execution itself, once, whatever the duplicates did
    assert [b"Your refund was sent" in envelope.content for envelope in smtp_inbox].count(True) == 1


def test_a_worker_killed_during_the_provider_call_is_redelivered_and_pays_once(
    inspector, finance, stripe_fake, worker_env, workers
):
    env = {
        **worker_env,
        # Redis gives an unacknowledged message back after the visibility timeout: short here.
        "CELERY_BROKER_TRANSPORT_OPTIONS": json.dumps(
            {"visibility_timeout": 3, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}
        ),
        # The killed attempt's lease on the refund runs out as fast.
        "REFUND_ATTEMPT_LEASE_SECONDS": "2",
    }
    first = workers(env)
    refund, pi = stripe_refund(inspector, stripe_fake)
    stripe_fake.slow(4.0)  # the first call sleeps inside Stripe's endpoint

    services.refund_approve(refund_id=refund.pk, by=finance)
    assert stripe_fake.in_flight.wait(WAIT_SECONDS), first.log_tail()
    first.kill()  # SIGKILL mid-call: no ack, no clean-up

    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.PROCESSING
    second = workers(env)
    assert wait_for(lambda: status_of(refund.pk, RefundStatus.SUCCEEDED)), second.log_tail()

    refund.refresh_from_db()
    posts = stripe_fake.requests_to("POST", "/v1/refunds")
    assert stripe_fake.refunds_created(pi) == 1
    assert len(posts) >= 2 and {p["key"] for p in posts} == {refund.idempotency_key}  # called again, same key
    assert refund.attempts >= 2 and refund.events.filter(action="resume").exists()
    assert refund.provider_reference == stripe_fake.refunds[0]["id"]


def test_a_provider_500_is_retried_then_shown_as_failed_with_the_reason(
    inspector, finance, stripe_fake, worker_env, workers
):
    worker = workers(worker_env)  # REFUND_MAX_RETRIES=2: three calls in all
    refund, pi = stripe_refund(inspector, stripe_fake)
    stripe_fake.fail_before(100, 500)

    services.refund_approve(refund_id=refund.pk, by=finance)

    assert wait_for(lambda: status_of(refund.pk, RefundStatus.FAILED)), worker.log_tail()
    refund.refresh_from_db()
    assert len(stripe_fake.requests_to("POST", "/v1/refunds")) == 3
    assert refund.failure_reason.startswith("Stripe answered 500 api_error")
    assert refund.events.filter(action="attempt_failed").count() == 2
    assert stripe_fake.refunds_created(pi) == 0
    assert refund.claim.status == ClaimStatus.INSPECTED


def test_a_provider_500_then_success_is_paid_once(inspector, finance, stripe_fake, worker_env, workers):
    worker = workers(worker_env)
    refund, pi = stripe_refund(inspector, stripe_fake)
    stripe_fake.fail_before(2, 500)

    services.refund_approve(refund_id=refund.pk, by=finance)

    assert wait_for(lambda: status_of(refund.pk, RefundStatus.SUCCEEDED)), worker.log_tail()
    assert len(stripe_fake.requests_to("POST", "/v1/refunds")) == 3
    assert stripe_fake.refunds_created(pi) == 1


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of our own on a free port, that the test can stop and start again."""
    port = _free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    state = {"process": None}

    def start():
        state["process"] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(lambda: _pings(port), 10), "redis-server did not start"

    def stop():
        state["process"].terminate()
        state["process"].wait(10)

    start()
    yield type("PrivateRedis", (), {"url": f"redis://127.0.0.1:{port}/0", "start": start, "stop": stop})
    if state["process"].poll() is None:
        stop()


def _pings(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=0.2).ping()
    except redis.exceptions.ConnectionError:
        return False


def test_the_broker_stopped_during_approval_loses_nothing(
    inspector, finance, stripe_fake, worker_env, workers, private_redis, settings, caplog
):
    env = {**worker_env, "CELERY_BROKER_URL": private_redis.url}
    refund, pi = stripe_refund(inspector, stripe_fake)
    with broker(private_redis.url):
        private_redis.stop()

        services.refund_approve(refund_id=refund.pk, by=finance)  # publishing fails after the commit

        assert any("on_commit" in record.getMessage() for record in caplog.records), "the publish did not fail"
        assert Refund.objects.get(pk=refund.pk).status == RefundStatus.APPROVED  # the approval is kept
        private_redis.start()
        worker = workers(env)
        time.sleep(1)
        assert Refund.objects.get(pk=refund.pk).status == RefundStatus.APPROVED  # no message was queued
        settings.REFUND_REQUEUE_AFTER_SECONDS = 0
        assert services.refunds_requeue_stuck() == 1  # beat's sweep, with the broker back

        assert wait_for(lambda: status_of(refund.pk, RefundStatus.SUCCEEDED)), worker.log_tail()
    assert stripe_fake.refunds_created(pi) == 1
    assert Refund.objects.get(pk=refund.pk).total == Decimal("49.90")


def test_an_approver_deactivated_before_execution_still_gets_the_claim_refunded_as_the_system(
    inspector, finance, stripe_fake, worker_env, workers
):
    # given a refund approved by finance while no worker runs, and the approver deactivated before it executes
    refund, pi = stripe_refund(inspector, stripe_fake)
    services.refund_approve(refund_id=refund.pk, by=finance)
    type(finance).objects.filter(pk=finance.pk).update(is_active=False)

    # when a worker executes it
    worker = workers(worker_env)

    # then the money left once and the claim followed it, as the system, not as the deactivated approver
    assert wait_for(lambda: status_of(refund.pk, RefundStatus.SUCCEEDED)), worker.log_tail()
    assert stripe_fake.refunds_created(pi) == 1
    claim = Refund.objects.get(pk=refund.pk).claim
    assert claim.status == ClaimStatus.REFUNDED
    event = claim.events.get(action="refund")
    assert (event.actor, event.actor_kind) == (None, "system")
    assert set(refund.events.exclude(action__in=["propose", "approve"]).values_list("actor_kind", flat=True)) == {
        "system"
    }


def connections_named(application_name: str) -> set[int]:
    """The backends of this database that a process opened under ``application_name``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [application_name],
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_a_worker_keeps_its_database_connection_from_one_refund_to_the_next(
    inspector, finance, stripe_fake, worker_env, workers
):
    # given a worker whose connections may live a minute (production's DATABASE_CONN_MAX_AGE), named so
    # that other tests' connections do not count
    name = f"refunds-test-worker-{os.getpid()}"
    env = {
        **worker_env,
        "DATABASE_URL": f"{worker_env['DATABASE_URL']}?application_name={name}",
        "DATABASE_CONN_MAX_AGE": "60",
    }
    worker = workers(env)
    seen = []

    # when it executes three refunds, one after the other
    for _ in range(3):
        refund, _pi = stripe_refund(inspector, stripe_fake)
        services.refund_approve(refund_id=refund.pk, by=finance)
        assert wait_for(lambda r=refund: status_of(r.pk, RefundStatus.SUCCEEDED)), worker.log_tail()
        email = OutboundEmail.objects.get(claim=refund.claim, template="refund_sent")
        assert wait_for(lambda e=email: OutboundEmail.objects.get(pk=e.pk).status == "sent"), worker.log_tail()
        time.sleep(0.5)  # the task's end, after its email
        seen.append(connections_named(name))

    # then it did them all on one connection, still open (Celery's fixup would have opened one a task)
    assert len(seen[0]) == 1 and seen == [seen[0]] * 3
