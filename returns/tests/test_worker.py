"""End to end through a real Celery worker on Redis: the services commit, the
task goes through the broker, the worker sends the email to a real SMTP server.

The worker runs in a thread of this process (``start_worker``), so it shares the
settings that the fixtures change (SMTP server, S3 endpoint); Django gives the
thread its own connection to the test database, which is why the test commits
for real (``transaction=True``) instead of running in a rolled-back transaction.
"""

import email
import email.policy
import io
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from backoffice.celery import app
from returns import services
from returns.models import ClaimType, EmailStatus, OutboundEmail
from returns.tests.factories import OrderLineFactory

WAIT_SECONDS = 20


@pytest.fixture
def celery_worker(transactional_db, smtp_inbox):
    """A solo worker consuming from the suite's Redis broker, with eager mode off while it runs.

    It depends on the database and the SMTP server so that it stops before they do.
    """
    assert app.conf.broker_url.startswith("redis://"), "run through scripts/test.sh: the broker must be Redis"
    saved = app.conf.task_always_eager, app.conf.worker_hijack_root_logger
    # Off: tasks go through Redis. Not hijacking: the rest of the suite keeps pytest's log handlers.
    app.conf.task_always_eager = app.conf.worker_hijack_root_logger = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    finally:
        app.conf.task_always_eager, app.conf.worker_hijack_root_logger = saved


def whole_package_photo() -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "brown").save(buffer, "JPEG")
    return SimpleUploadedFile("box.jpg", buffer.getvalue(), content_type="image/jpeg")


def wait_for(condition, seconds=WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    return condition()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_on_redis_sends_the_approval_email(celery_worker, smtp_inbox, cs):
    line = OrderLineFactory()
    claim = services.claim_create(
        order=line.order,
        claim_type=ClaimType.NO_REASON,
        description="Not what I expected.",
        order_line_ids=[line.pk],
        by=cs,
    )
    services.evidence_add(claim_id=claim.pk, by=cs, upload=whole_package_photo(), shows_whole_package=True)

    claim = services.claim_approve(claim_id=claim.pk, by=cs)

    approval = OutboundEmail.objects.get(claim=claim, template="claim_approved")
    assert approval.status == EmailStatus.READY  # committed, not sent by this thread: eager mode is off

    def approval_sent():
        approval.refresh_from_db()
        return approval.status == EmailStatus.SENT

    assert wait_for(approval_sent), f"the worker did not send the approval within {WAIT_SECONDS} s"
    assert approval.sent_at is not None
    subjects = [email.message_from_bytes(e.content, policy=email.policy.default)["Subject"] for e in smtp_inbox]
    assert f"Your return is approved: {claim.rma_number}" in subjects
    assert all(e.rcpt_tos == [claim.customer_email] for e in smtp_inbox)
