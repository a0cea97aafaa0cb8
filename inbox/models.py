"""The support mailbox's messages as stored: parsed, matched to a claim or waiting in the unsorted inbox.

Rows are written only by ``inbox.services``. The original message stays in the mailbox's processed folder
(``INBOUND_PROCESSED_FOLDER``; ``var/inbox/processed/`` in the embedded run): the database keeps what a
person reads and the attachments as checked (location stripped), never the raw photo.
"""

import uuid
from pathlib import PurePosixPath

from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from returns.models import Claim, Evidence


class MessageKind(models.TextChoices):
    CUSTOMER = "customer", "From a person"
    AUTO_REPLY = "auto_reply", "Automatic reply"
    BOUNCE = "bounce", "Delivery failure"


class MessageState(models.TextChoices):
    UNSORTED = "unsorted", "Unsorted: for customer service"
    ON_CLAIM = "on_claim", "On a claim"
    # Auto-replies and bounces: stored, shown on their claim when they name one, never acted on.
    AUTOMATIC = "automatic", "Automatic: no action"


class MatchedBy(models.TextChoices):
    REPLY_TOKEN = "reply_token", "the claim's reply address"
    THREAD = "thread", "the email it answers (In-Reply-To, References)"
    RMA_NUMBER = "rma_number", "the RMA number in the subject, from the claim's customer"
    AGENT = "agent", "customer service"
    NEW_CLAIM = "new_claim", "customer service, as a new claim"


class Mailbox(models.Model):
    """One mailbox the beat task reads (an IMAP folder, or the embedded run's folder): its lease lets one
    reader at a time through, and its last run is shown to people."""

    name = models.CharField(max_length=255, unique=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_result = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self):
        return self.name


class InboundMessage(models.Model):
    # Where it was read: the IMAP folder's (UIDVALIDITY, UID) is unique, so a message read twice (a crash
    # before it was moved) is stored once; the Message-ID catches the same message come twice another way.
    mailbox = models.CharField(max_length=255)
    uidvalidity = models.PositiveBigIntegerField(null=True, blank=True)
    uid = models.PositiveBigIntegerField(null=True, blank=True)
    # Message-ID as sent; a message without one gets "<sha256 of its bytes@no-message-id.invalid>".
    message_id = models.CharField("Message-ID", max_length=255, unique=True)
    in_reply_to = models.TextField(blank=True)
    references = models.TextField(blank=True)
    sender_email = models.CharField("from (address)", max_length=254, blank=True)  # indexed in any case: Meta
    sender_name = models.CharField("from (name)", max_length=255, blank=True)
    # The From header as it came, for a sender that is not an address.
    sender_raw = models.TextField("from (as written)", blank=True)
    recipients = models.TextField(blank=True)  # To, Cc, Delivered-To: one address a line
    subject = models.TextField(blank=True)
    sent_at = models.DateTimeField("date (the sender's)", null=True, blank=True)
    # What a claim made from it counts from: the Date header unless it is in the future or missing.
    arrived_at = models.DateTimeField("arrived at")
    fetched_at = models.DateTimeField(auto_now_add=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    headers = models.TextField(blank=True)
    body_text = models.TextField("full text", blank=True)
    # Kept as text and shown escaped: never rendered as a page.
    body_html = models.TextField("HTML body (source)", blank=True)
    display_text = models.TextField("text without the quoted thread", blank=True)
    kind = models.CharField(max_length=12, choices=MessageKind.choices, default=MessageKind.CUSTOMER)
    state = models.CharField(max_length=12, choices=MessageState.choices, default=MessageState.UNSORTED)
    claim = models.ForeignKey(Claim, null=True, blank=True, related_name="+", on_delete=models.PROTECT)
    matched_by = models.CharField(max_length=16, choices=MatchedBy.choices, blank=True)
    # For a person: why it is unsorted, what was wrong with it.
    note = models.TextField(blank=True)
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("sort_inboundmessage", "Can sort the support mailbox (turn messages into claims, attach them)")]
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "uidvalidity", "uid"],
                condition=Q(uid__isnull=False),
                name="inbound_message_unique_imap_uid",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-id"], name="inbound_message_state_recent"),
            # The messages' search by sender, in any case (``sender_email__iexact``).
            models.Index(Upper("sender_email"), name="inbound_sender_any_case"),
            models.Index(
                fields=["claim", "arrived_at"], condition=Q(claim__isnull=False), name="inbound_message_claim"
            ),
        ]

    def __str__(self):
        return self.subject or "(no subject)"

    @property
    def sender(self) -> str:
        if self.sender_email:
            return f"{self.sender_name} <{self.sender_email}>" if self.sender_name else self.sender_email
        return self.sender_raw or "(no sender)"


class UnsortedMessage(InboundMessage):
    """The unsorted inbox: customer service turns each into a claim or attaches it to one."""

    class Meta:
        proxy = True
        verbose_name = "unsorted message"


def attachment_path(instance, filename):
    suffix = PurePosixPath(filename).suffix.lower()[:8]
    return f"inbox/{instance.message_id}/{uuid.uuid4().hex}{suffix}"


class InboundAttachment(models.Model):
    """A file that came with a message: the checked copy when the upload checks took it, else the reason."""

    message = models.ForeignKey(InboundMessage, related_name="attachments", on_delete=models.CASCADE)
    position = models.PositiveIntegerField()
    original_name = models.CharField(max_length=255)
    content_type = models.CharField("type (as sent)", max_length=127)
    size_bytes = models.PositiveBigIntegerField()
    inline = models.BooleanField(default=False)
    from_forwarded = models.BooleanField("in a forwarded message", default=False)
    # The checked copy (the evidence's own file once it is evidence); blank when refused.
    file = models.FileField(upload_to=attachment_path, max_length=255, blank=True)
    refused_reason = models.TextField(blank=True)
    evidence = models.ForeignKey(Evidence, null=True, blank=True, related_name="+", on_delete=models.SET_NULL)

    class Meta:
        ordering = ["message_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="inbound_attachment_unique_position"),
        ]

    def __str__(self):
        return self.original_name

    @property
    def accepted(self) -> bool:
        return not self.refused_reason
