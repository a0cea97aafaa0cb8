"""Customer emails: rendered into an ``OutboundEmail`` row inside the caller's
transaction, sent by a Celery task queued on commit. The row is the outbox:
``returns.tasks.requeue_stale_emails`` re-queues rows still ready after the
broker was down, so an email written is an email sent.

A worker that has just committed the change may send the row itself instead
(``send_here``: one task less through the broker); if that send fails, the task
is queued as it would have been. Either way ``returns.services.email_send`` sends
it, under the row's lock, so a row is sent once whoever gets to it first.
"""

import logging
from email.utils import make_msgid

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from core.text import single_line
from returns.models import Claim, OutboundAttachment, OutboundEmail

log = logging.getLogger(__name__)

# template name → subject; the bodies are templates/emails/<name>.txt and .html. Customer emails are
# written in the claim's language (``Claim.language``): subjects and bodies are marked for translation.
SUBJECTS = {
    "claim_received": _("We received your after-sales request ({ref})"),
    "information_requested": _("We need more information about your request ({ref})"),
    "claim_approved": _("Your return is approved: {ref}"),
    "claim_rejected": _("About your after-sales request ({ref})"),
    "claim_inspected": _("We inspected your return ({ref})"),
    "parcel_reminder": _("Reminder: we are waiting for your return parcel ({ref})"),
    "claim_expired": _("Your return was closed: we did not receive the parcel ({ref})"),
    "replacement_shipped": _("Your replacement is on its way ({ref})"),
    "refund_sent": _("Your refund was sent ({ref})"),
    # Customer service's own words, from the claim page (returns.services.claim_reply).
    "free_reply": _("About your after-sales request ({ref})"),
}
STAFF_SUBJECTS = {
    "sla_due_soon": "{count} claim(s) due for a first response soon",
    "sla_overdue": "{count} claim(s) past the 24-hour first response",
    # The parcel sweep (returns.services.parcel_sweep): approved claims whose return parcel has not arrived.
    "parcel_overdue": "{count} approved claim(s) whose return parcel has not arrived",
    # The refunds' digests (refunds.services.refund_sla_sweep): their items are refunds.
    "refund_approval_waiting": "{count} refund(s) waiting for approval since their inspection",
    "refund_sla_due_soon": "{count} refund(s) at the 5-working-day target, not sent yet",
    "refund_sla_overdue": "{count} refund(s) past the 7 working days",
}


def email_customer(
    *,
    claim: Claim,
    template: str,
    attachments=(),
    written_by=None,
    send_here: bool = False,
    thread: dict | None = None,
    **context,
) -> OutboundEmail:
    """Write the email for ``claim`` and send it once the transaction commits.

    In the claim's language (the customer's, kept on the claim), with the link to the claim's status page.
    It threads with the claim's conversation (``thread_headers``); ``attachments`` are (name, content
    type, bytes) and ``written_by`` the person who wrote it (a free reply), for ``claim_reply``.
    ``send_here``: sent by this process once the transaction commits (a Celery task's service, never a
    web request), the ``send_email`` task queued only if that fails (``send_or_queue``). ``thread``: the
    ``thread_headers`` a caller has already read.
    """
    from returns import links, tasks

    with translation.override(claim.language or settings.LANGUAGE_CODE):
        ref = claim.rma_number or _("claim {pk}, order {number}").format(pk=claim.pk, number=claim.order_number)
        context = {
            "claim": claim,
            "ref": ref,
            "support_email": settings.RMA_SUPPORT_EMAIL,
            "return_address": settings.RMA_RETURN_ADDRESS,
            "status_url": links.claim_status_url(claim),
            **context,
        }
        # A header: one line, whatever the order number carried in (core/text.py).
        subject = single_line(str(SUBJECTS[template]).format(ref=ref))
        body_text = render_to_string(f"emails/{template}.txt", context)
        body_html = render_to_string(f"emails/{template}.html", context)
    email = OutboundEmail.objects.create(
        claim=claim,
        template=template,
        to=claim.customer_email,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        written_by=written_by,
        **(thread or thread_headers(claim)),
    )
    for name, content_type, data in attachments:
        attachment = OutboundAttachment(email=email, name=name[:255], content_type=content_type, size_bytes=len(data))
        attachment.file.save(name, ContentFile(data), save=False)
        attachment.save()
    # robust: a broker that is down must not turn a committed change into an error page;
    # the outbox sweep sends the email later.
    if send_here:
        transaction.on_commit(lambda: send_or_queue(email, written=not attachments), robust=True)
    else:
        transaction.on_commit(lambda: tasks.send_email.delay(email.pk), robust=True)
    return email


def send_or_queue(email: OutboundEmail, *, written: bool) -> None:
    """Send a committed outbox row from this process; if that fails, queue the ``send_email`` task, which
    retries it with back-off (a broker that is down as well: the sweep queues it later). A row another
    process sent meanwhile is skipped under its lock (``email_send``). ``written``: ``email`` is the row
    as this process wrote it, without attachments, so the send does not read it again."""
    from returns import services, tasks

    try:
        services.email_send(email_id=email.pk, written=email if written else None)
    except Exception:  # counted on the row by email_send; its task takes over
        log.warning("email %s not sent by the worker that wrote it: queued to send_email", email.pk, exc_info=True)
        tasks.send_email.delay(email.pk)


def email_staff(*, group: str, template: str, items=None, **context) -> list[OutboundEmail]:
    """A digest to every active member of a staff group: one email a person, not one a claim or refund.

    ``items`` are what the digest lists (counted in the subject); the claims' digests pass theirs
    as ``claims``, which their templates read.
    """
    from django.contrib.auth import get_user_model

    from returns import tasks

    recipients = (
        get_user_model()
        .objects.filter(groups__name=group, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    if items is None:
        items = context["claims"]
    context = {"items": items, "site_url": settings.SITE_URL, **context}
    subject = STAFF_SUBJECTS[template].format(count=len(items))
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    emails = OutboundEmail.objects.bulk_create(
        OutboundEmail(
            template=template, to=to, subject=subject, body_text=text, body_html=html, message_id=new_message_id()
        )
        for to in sorted(recipients)
    )
    for email in emails:
        transaction.on_commit(lambda pk=email.pk: tasks.send_email.delay(pk), robust=True)
    return emails


# --- The customer's pages (portal): the link to an order, asked for with its number and email ------------


def email_address(*, to: str, template: str, subject: str, context: dict) -> OutboundEmail:
    """An email to one address that belongs to no claim (an order's link, an export's link or failure),
    rendered from ``emails/<template>.txt`` and ``.html`` and sent once the transaction commits."""
    from returns import tasks

    email = OutboundEmail.objects.create(
        template=template,
        to=to,
        subject=single_line(subject),
        body_text=render_to_string(f"emails/{template}.txt", context),
        body_html=render_to_string(f"emails/{template}.html", context),
        message_id=new_message_id(),
    )
    transaction.on_commit(lambda: tasks.send_email.delay(email.pk), robust=True)
    return email


def email_order_link(*, order, url: str, language: str) -> OutboundEmail:
    """The link that opens the order's page, to the address the order was placed with (never another),
    in the language of the browser that asked for it."""
    with translation.override(language or settings.LANGUAGE_CODE):
        context = {
            "order": order,
            "url": url,
            "hours": settings.PORTAL_ORDER_LINK_MAX_AGE_HOURS,
            "support_email": settings.RMA_SUPPORT_EMAIL,
            "ref": order.number,
        }
        subject = str(_("Your link to order {number}")).format(number=order.number)
        return email_address(to=order.customer_email, template="order_link", subject=subject, context=context)


# --- Threading: every email carries a Message-ID, answers the customer's last message and leads back ---
# (docs/inbox.md). The inbox app records the customer's messages on the claim (services.claim_thread_note).

# References kept on an email: the thread's first message and the latest ones (RFC 5322 allows trimming).
MAX_REFERENCES = 20


def new_message_id() -> str:
    """A Message-ID in our own domain, random, given when the email is written: a retried send keeps it."""
    return make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)


def reply_address(claim: Claim) -> str:
    """``support+<reply token>@domain``: the customer's reply finds the claim by it (plus addressing)."""
    local, _, domain = settings.INBOUND_REPLY_ADDRESS.partition("@")
    return f"{local}+{claim.reply_token}@{domain}"


_READ_HERE = object()


def thread_headers(claim: Claim, last_email: tuple[str, str] | None = _READ_HERE) -> dict:
    """Message-ID, In-Reply-To, References and Reply-To of the next email on the claim's thread: it answers
    the customer's last email on the claim, else it follows our own last email to them. ``last_email``:
    that email's (message id, references), or None for none, when the caller has read it already."""
    parent, parent_references = claim.customer_last_message_id, claim.customer_thread_references
    if not parent and claim.pk:
        if last_email is _READ_HERE:
            last_email = (
                OutboundEmail.objects.filter(claim=claim)
                .exclude(message_id="")
                .order_by("-id")
                .values_list("message_id", "references")
                .first()
            )
        if last_email:
            parent, parent_references = last_email
    return {
        "message_id": new_message_id(),
        "in_reply_to": parent,
        "references": join_references(parent_references.split(), parent) if parent else "",
        "reply_to": reply_address(claim),
    }


def join_references(earlier: list[str], parent: str) -> str:
    ids = list(dict.fromkeys([*earlier, parent]))
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return " ".join(ids)
