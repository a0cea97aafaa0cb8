"""Reading the support mailbox from a real Dovecot: messages put in by IMAP APPEND, read by the beat task's
service, stored once, matched to their claim or left unsorted, moved to Processed only once stored."""

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone
from PIL import Image

from core import actors
from inbox import services, sources, testing
from inbox.models import InboundMessage, Mailbox, MatchedBy, MessageKind, MessageState
from inbox.tests.conftest import SUPPORT, processed, waiting
from returns import notifications
from returns import services as claims
from returns.models import ClaimStatus, Evidence, OutboundEmail
from returns.tests.factories import OrderLineFactory

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


def a_claim(cs, email=ANN, **kwargs):
    line = OrderLineFactory(order__customer_email=email, **kwargs)
    return claims.claim_create(
        order=line.order, claim_type="no_reason", description="Not what I ordered.", by=cs, order_line_ids=[line.pk]
    )


def put(box, *raws):
    for raw in raws:
        box.append(raw, "INBOX")


def test_a_new_customers_photo_email_waits_unsorted_with_the_photo_checked_and_is_moved(mailbox):
    put(mailbox, testing.iphone_photo_email(f"Ann <{ANN}>", SUPPORT, "Cage arrived bent", "See the photo."))

    result = services.mailbox_read()

    message = InboundMessage.objects.get()
    assert (result.stored, message.state, message.kind) == (1, MessageState.UNSORTED, MessageKind.CUSTOMER)
    assert (message.sender_email, message.display_text) == (ANN, "See the photo.\n\nSent from my iPhone")
    photo = message.attachments.get()
    assert photo.accepted and not photo.evidence
    with photo.file.open("rb") as stored, Image.open(io.BytesIO(stored.read())) as image:
        assert 0x8825 not in image.getexif()  # no location in the stored copy
    assert waiting(mailbox) == [] and len(processed(mailbox)) == 1
    assert Mailbox.objects.get().last_result["stored"] == 1


def test_the_customers_reply_with_the_whole_package_photo_answers_the_request_and_restarts_the_clock(mailbox, cs):
    claim = a_claim(cs)
    claim = claims.claim_ask_for_information(claim_id=claim.pk, by=cs, message="A photo of the whole box, please.")
    asked = claim.emails.get(template="information_requested")
    reply = testing.iphone_photo_email(
        f"Ann <{ANN}>",
        notifications.reply_address(claim),
        f"Re: {asked.subject}",
        "Here is the whole box.",
        in_reply_to=asked.message_id,
    )
    put(mailbox, reply)

    before = timezone.now()
    services.mailbox_read()

    claim.refresh_from_db()
    message = InboundMessage.objects.get()
    assert (message.state, message.claim, message.matched_by) == (MessageState.ON_CLAIM, claim, MatchedBy.REPLY_TOKEN)
    assert claim.status == ClaimStatus.REQUESTED
    assert claim.first_response_due_at >= before + timedelta(hours=24)
    answer = claim.events.get(action="record_customer_answer")
    assert (answer.actor_kind, answer.payload["answer"]) == (
        actors.ActorKind.SYSTEM,
        "Here is the whole box.\n\nSent from my iPhone",
    )
    evidence = Evidence.objects.get(claim=claim)
    assert (evidence.original_name, evidence.uploaded_by) == ("IMG_4521.JPG", None)
    assert message.attachments.get().evidence == evidence
    # our next email answers the customer's, in the same thread, and leads back to the claim
    claim = claims.claim_reject(claim_id=claim.pk, by=cs, reason="Outside the window.")
    rejected = claim.emails.get(template="claim_rejected")
    assert rejected.in_reply_to == message.message_id
    assert rejected.references.split() == [asked.message_id, message.message_id]
    assert rejected.reply_to == f"support+{claim.reply_token}@brand.example"


def test_an_outlook_reply_found_by_in_reply_to_joins_the_requested_claim_trimmed(mailbox, cs):
    claim = a_claim(cs, email="bob@example.com")
    ack = claim.emails.get()
    put(
        mailbox,
        testing.outlook_reply(
            "Bob <bob@example.com>",
            SUPPORT,
            f"RE: {ack.subject}",
            "The serial is SN-4411.",
            quoted_from="After-sales <support@brand.example>",
            quoted_text="We received your request.",
            in_reply_to=ack.message_id,
        ),
    )

    services.mailbox_read()

    message = InboundMessage.objects.get()
    assert (message.claim, message.matched_by) == (claim, MatchedBy.THREAD)
    event = claim.events.get(action="attach_message")
    assert event.payload["message"] == "The serial is SN-4411."
    assert "We received your request." in message.body_text


def test_an_rma_number_in_the_subject_matches_only_from_the_claims_customer(mailbox, cs, manager_photo):
    claim = a_claim(cs)
    manager_photo(claim)
    claim = claims.claim_approve(claim_id=claim.pk, by=cs)
    put(
        mailbox,
        testing.plain_email(ANN, SUPPORT, f"Tracking for {claim.rma_number}", "Sent today, tracking 1Z999."),
        testing.plain_email("mallory@example.com", SUPPORT, f"About {claim.rma_number}", "Let me in."),
    )

    services.mailbox_read()

    ann = InboundMessage.objects.get(sender_email=ANN)
    mallory = InboundMessage.objects.get(sender_email="mallory@example.com")
    assert (ann.claim, ann.matched_by) == (claim, MatchedBy.RMA_NUMBER)
    assert (mallory.claim, mallory.state) == (None, MessageState.UNSORTED)


def test_an_out_of_office_reply_is_stored_on_the_claim_and_never_acted_on(mailbox, cs):
    claim = a_claim(cs)
    claim = claims.claim_ask_for_information(claim_id=claim.pk, by=cs, message="Which colour?")
    events, emails = claim.events.count(), OutboundEmail.objects.count()
    put(mailbox, testing.out_of_office(ANN, notifications.reply_address(claim)))

    services.mailbox_read()

    message = InboundMessage.objects.get()
    claim.refresh_from_db()
    assert (message.kind, message.state, message.claim) == (MessageKind.AUTO_REPLY, MessageState.AUTOMATIC, claim)
    assert claim.status == ClaimStatus.AWAITING_CUSTOMER
    assert (claim.events.count(), OutboundEmail.objects.count()) == (events, emails)
    assert "Auto-Submitted" in message.note


def test_a_reply_to_a_closed_claim_waits_unsorted_naming_it(mailbox, cs):
    claim = a_claim(cs)
    claim = claims.claim_cancel(claim_id=claim.pk, by=cs, reason="Customer withdrew.")
    put(mailbox, testing.plain_email(ANN, notifications.reply_address(claim), "Re: x", "Actually, please reopen."))

    services.mailbox_read()

    message = InboundMessage.objects.get()
    assert (message.state, message.claim) == (MessageState.UNSORTED, None)
    assert f"It answers {claim}, which is cancelled" in message.note


def test_bad_mail_is_each_stored_or_refused_with_a_reason_and_none_stops_the_batch(mailbox, settings):
    settings.INBOUND_FETCH_MAX_BYTES = 5 * 1024 * 1024
    big = testing.plain_email("big@example.com", SUPPORT, "video", "the video")
    zipped = testing.plain_email("zip@example.com", SUPPORT, "photos", "zipped photos")
    html = testing.plain_email("html@example.com", SUPPORT, "html", "x")
    from email import message_from_bytes, policy

    big, zipped, html = (message_from_bytes(raw, policy=policy.default) for raw in (big, zipped, html))
    big.add_attachment(os.urandom(60 * 1024 * 1024), maintype="image", subtype="jpeg", filename="huge.jpg")
    zipped.add_attachment(b"PK\x03\x04" + os.urandom(2000), maintype="application", subtype="zip", filename="p.zip")
    html.set_content("<p>Hi</p><script>alert('x')</script>", subtype="html")
    duplicate = testing.plain_email("dup@example.com", SUPPORT, "twice", "same", message_id="<same@example.com>")
    put(
        mailbox,
        bytes(big),
        bytes(zipped),
        bytes(html),
        b"From: a@example.com\r\nSubject: =?utf-8?q?x=0D=0ABcc:_v@example.com?=\r\n\r\ninjected\r\n",
        b"From: Customer Service Dept\r\nSubject: who\r\n\r\nno address\r\n",
        b"From: m@example.com\r\nContent-Type: multipart/mixed\r\nSubject: broken\r\n\r\nno boundary\r\n",
        b"From: e@example.com\r\nSubject: empty\r\n\r\n",
        b"\x00\xff garbage \r\n\r\n\xfe",
        duplicate,
        duplicate,
    )

    result = services.mailbox_read()

    assert (result.stored, result.already_stored, result.failed) == (9, 1, 0)
    assert waiting(mailbox) == [] and len(processed(mailbox)) == 10
    refused = {a.original_name: a.refused_reason for m in InboundMessage.objects.all() for a in m.attachments.all()}
    assert refused["huge.jpg"] == "“huge.jpg” is 60.0 MB; the limit is 20.0 MB."
    assert "not a photo or video we can read" in refused["p.zip"]
    html_message = InboundMessage.objects.get(sender_email="html@example.com")
    assert "alert" not in html_message.display_text and "<script>" in html_message.body_html
    assert InboundMessage.objects.get(subject__startswith="x ").subject == "x Bcc: v@example.com"
    assert InboundMessage.objects.get(subject="who").sender_raw == "Customer Service Dept"
    assert InboundMessage.objects.filter(state=MessageState.UNSORTED).count() == 9


def test_many_messages_waiting_at_once_are_all_stored_in_batches(mailbox, settings):
    settings.INBOUND_FETCH_CHUNK = 25
    put(*[mailbox], *(testing.plain_email(f"c{n}@example.com", SUPPORT, f"n{n}", f"text {n}") for n in range(120)))

    result = services.mailbox_read()

    assert (result.stored, InboundMessage.objects.count()) == (120, 120)
    assert waiting(mailbox) == [] and len(processed(mailbox)) == 120


def test_a_second_reader_is_turned_away_while_the_first_holds_the_mailbox(mailbox):
    source = sources.configured()
    Mailbox.objects.create(name=source.name, leased_until=timezone.now() + timedelta(minutes=1))
    put(mailbox, testing.plain_email(ANN, SUPPORT, "hello", "hi"))

    assert services.mailbox_read().skipped
    assert InboundMessage.objects.count() == 0 and len(waiting(mailbox)) == 1


def test_the_embedded_run_reads_eml_files_from_a_folder_through_the_same_code(tmp_path, settings, cs):
    settings.INBOUND_IMAP_URL = settings.INBOUND_IMAP_HOST = ""
    settings.INBOUND_DIR = tmp_path
    settings.INBOUND_REPLY_ADDRESS = SUPPORT
    claim = a_claim(cs)
    (tmp_path / "1.eml").write_bytes(testing.plain_email(ANN, SUPPORT, "new", "A new question."))
    (tmp_path / "2.eml").write_bytes(testing.plain_email(ANN, notifications.reply_address(claim), "Re", "More."))

    first, again = services.mailbox_read(), services.mailbox_read()

    assert (first.stored, again.stored) == (2, 0)
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == ["1.eml", "2.eml"]
    assert InboundMessage.objects.get(subject="Re").claim == claim


@pytest.fixture
def manager_photo():
    """A whole-package photo on the claim, as approval needs."""

    def add(claim):
        from django.core.files.base import ContentFile

        claims.evidence_add(
            claim_id=claim.pk,
            by=actors.SYSTEM,
            upload=ContentFile(testing.jpeg(), name="box.jpg"),
            shows_whole_package=True,
        )

    return add


# --- A crash in the middle of a batch ----------------------------------------------------------

_CRASHING_READER = """
import os, signal, sys
import django
django.setup()
from inbox import services
die_after, stored = int(sys.argv[1]), 0
store = services.message_store
def counting_store(**kwargs):
    global stored
    message, created = store(**kwargs)
    stored += created
    if stored == die_after:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no move: as a killed worker
    return message, created
services.message_store = counting_store
services.mailbox_read()
"""


@pytest.mark.django_db(transaction=True)
def test_a_reader_killed_after_storing_half_a_batch_loses_nothing_and_the_next_run_stores_nothing_twice(
    mailbox, imap_server, s3_endpoint, settings, cs
):
    claim = a_claim(cs)
    replies = [
        testing.iphone_photo_email(ANN, notifications.reply_address(claim), "Re: photos", f"Photo {n}.")
        for n in range(3)
    ]
    others = [testing.plain_email(f"c{n}@example.com", SUPPORT, f"question {n}", "Hello.") for n in range(7)]
    put(mailbox, *replies, *others)
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "INBOUND_IMAP_URL": testing.imap_url(imap_server),
        "INBOUND_IMAP_SECURITY": "none",
        "INBOUND_REPLY_ADDRESS": SUPPORT,
        "INBOUND_LEASE_SECONDS": "2",
        "INBOUND_FETCH_CHUNK": "10",
        "AWS_STORAGE_BUCKET_NAME": "rma-test",
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_S3_ADDRESSING_STYLE": "path",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }

    crashed = subprocess.run(
        [sys.executable, "-c", _CRASHING_READER, "5"], env=env, cwd=django_settings.BASE_DIR, timeout=120
    )

    assert crashed.returncode == -signal.SIGKILL
    assert InboundMessage.objects.count() == 5
    assert len(waiting(mailbox)) == 10  # stored, not moved: the kill came before the batch's MOVE
    assert services.mailbox_read().skipped  # the dead reader's lease still holds
    time.sleep(2.1)

    result = services.mailbox_read()

    assert (result.stored, result.already_stored) == (5, 5)
    assert InboundMessage.objects.count() == 10
    assert waiting(mailbox) == [] and len(processed(mailbox)) == 10
    assert claim.events.filter(action="attach_message").count() == 3
    assert Evidence.objects.filter(claim=claim).count() == 3
