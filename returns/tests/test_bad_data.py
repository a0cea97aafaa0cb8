"""Bad data never loops or crashes: control characters refused where identifiers enter, header values on one
line, a poison email failed at once with its reason and never queued again."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.text import has_control_characters, single_line
from returns import money, services, tasks
from returns.models import EmailStatus, Evidence, Order, OutboundEmail
from returns.orders import orders_upsert
from returns.tests.factories import ClaimItemFactory
from returns.tests.test_emails import parse
from returns.tests.test_orders import line, order

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["SO-1\r\nBcc: x@evil.example", "SO-1\n", "SO\x001", "SO\u20281", "SO\x851"])
def test_control_characters_are_found(value):
    assert has_control_characters(value)
    assert not has_control_characters(single_line(value))


def test_single_line_keeps_ordinary_text():
    assert single_line("  Café  “Ünïcode” — 注文 12 ") == "Café “Ünïcode” — 注文 12"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"number": "SO-1\r\nBcc: x@evil.example"}, "number contains a line break or another control character"),
        ({"customer_email": "a@example.com\nBcc: b@example.com"}, "customer email contains a line break"),
        ({"lines": (line(sku="CAGE\r1"),)}, "SKU 'CAGE\\r1' contains a line break"),
    ],
)
def test_an_order_with_a_control_character_is_refused_with_the_reason(changes, problem):
    data = order(**({"number": "SO-1", "origin": "test, order SO-1"} | changes))

    report = orders_upsert([data, order("SO-2")])

    [(origin, reason)] = report.refused
    assert origin == "test, order SO-1"
    assert problem in reason
    assert list(Order.objects.values_list("number", flat=True)) == ["SO-2"]


def test_names_are_kept_on_one_line():
    data = order(customer_name="Ana\r\n  Silva\x00", lines=(line(name="Camera\ncage"),))

    report = orders_upsert([data])

    assert report.refused == []
    stored = Order.objects.get(number="SO-1")
    assert stored.customer_name == "Ana Silva"
    assert stored.lines.get().product.name == "Camera cage"


def ready(**fields) -> OutboundEmail:
    values = {"template": "test", "to": "ana@example.com", "subject": "Hello", "body_text": "Hi", "body_html": "<p>Hi"}
    return OutboundEmail.objects.create(**(values | fields))


def test_a_subject_with_a_line_break_is_sent_on_one_line(smtp_inbox):
    email = ready(subject="Your return is approved: claim 7, order SO-1\r\nBcc: x@evil.example")

    services.email_send(email_id=email.pk)

    [envelope] = smtp_inbox
    assert envelope.rcpt_tos == ["ana@example.com"]
    message = parse(envelope)
    assert message["Subject"] == "Your return is approved: claim 7, order SO-1 Bcc: x@evil.example"
    assert message["Bcc"] is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"reply_to": "support@example.com\r\nBcc: x@evil.example"}, "Header values can't contain newlines"),
        ({"to": "ana@example.com\r\nBcc: x@evil.example"}, "Invalid address"),
    ],
    ids=["BadHeaderError", "address"],
)
def test_a_poison_email_is_failed_at_once_with_its_reason_and_never_queued_again(smtp_inbox, fields, reason):
    """A header Django refuses to build: no retry can ever send it."""
    email = ready(**fields)

    tasks.send_email.delay(email.pk)  # eager here: a raised error would fail the test

    email.refresh_from_db()
    assert (email.status, email.attempts) == (EmailStatus.FAILED, 1)
    assert email.last_error.startswith("Cannot be sent: ")
    assert reason in email.last_error
    assert smtp_inbox == []
    OutboundEmail.objects.filter(pk=email.pk).update(updated_at=timezone.now() - timedelta(days=1))
    assert services.email_requeue_stale() == 0


def test_an_email_that_keeps_failing_is_given_up_by_the_sweep_with_its_last_error(settings, smtp_inbox):
    settings.EMAIL_MAX_ATTEMPTS = 3
    tired = ready(attempts=3, last_error="storage unreachable")
    fresh = ready(attempts=1, last_error="connection refused", subject="Second try")
    OutboundEmail.objects.update(updated_at=timezone.now() - timedelta(days=1))

    assert services.email_requeue_stale() == 1  # the fresh one, sent by the (eager) task

    tired.refresh_from_db()
    fresh.refresh_from_db()
    assert (tired.status, tired.last_error) == (EmailStatus.FAILED, "Gave up after 3 attempts. storage unreachable")
    assert fresh.status == EmailStatus.SENT
    assert [parse(envelope)["Subject"] for envelope in smtp_inbox] == ["Second try"]


@pytest.mark.parametrize("text", ["١٢٫٥٠", "١٢", "۱۲", "１２"])
def test_an_amount_in_other_digits_is_refused(text):
    with pytest.raises(money.MoneyError, match="digits 0-9"):
        money.parse_amount(text, "USD")


def test_an_amount_in_ascii_digits_is_read():
    assert money.parse_amount(" 12.50 ", "USD") == Decimal("12.50")


# --- Thumbnails: the sweep, and a failure counted on the row ----------------------------------------


def photo_upload(name="box.png"):
    from returns.tests.test_upload_limits import solid_png_bytes

    return SimpleUploadedFile(name, solid_png_bytes(), content_type="image/png")


def test_the_sweep_makes_the_thumbnail_the_broker_lost_and_leaves_fresh_uploads(cs, s3_objects):
    claim = ClaimItemFactory().claim
    # a plain django_db test never commits: the upload's on-commit task is lost, as with the broker down
    lost = services.evidence_add(claim_id=claim.pk, by=cs, upload=photo_upload("lost.png"))
    fresh = services.evidence_add(claim_id=claim.pk, by=cs, upload=photo_upload("fresh.png"))
    Evidence.objects.filter(pk=lost.pk).update(uploaded_at=timezone.now() - timedelta(hours=1))

    assert tasks.requeue_thumbnails.delay().get() == 1  # the task runs eagerly here

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.thumbnail.name in s3_objects() and (lost.thumbnail_attempts, lost.thumbnail_error) == (1, "")
    assert not fresh.thumbnail


def test_a_photo_whose_thumbnail_fails_keeps_the_reason_and_the_sweep_gives_up(cs, settings):
    settings.THUMBNAIL_MAX_ATTEMPTS = 2
    claim = ClaimItemFactory().claim
    evidence = services.evidence_add(claim_id=claim.pk, by=cs, upload=photo_upload())
    default_storage.delete(evidence.file.name)  # the stored photo is gone: every attempt fails
    Evidence.objects.filter(pk=evidence.pk).update(uploaded_at=timezone.now() - timedelta(hours=1))

    runs = [services.evidence_requeue_thumbnails() for _ in range(3)]

    evidence.refresh_from_db()
    assert runs == [1, 1, 0]
    assert evidence.thumbnail_attempts == 2
    assert evidence.thumbnail_error == f"FileNotFoundError: File does not exist: {evidence.file.name}"
    assert not evidence.thumbnail


def test_threading_headers_from_a_customers_email_are_sent_on_one_line(smtp_inbox):
    email = ready(in_reply_to="<1@customer.example>\r\nBcc: x@evil.example", references="<0@customer.example>\n")

    services.email_send(email_id=email.pk)

    [envelope] = smtp_inbox
    message = parse(envelope)
    assert message["In-Reply-To"] == "<1@customer.example> Bcc: x@evil.example"
    assert message["Bcc"] is None and envelope.rcpt_tos == ["ana@example.com"]
