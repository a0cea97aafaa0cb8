"""Customer emails: rendered into an ``OutboundEmail`` row inside the caller's
transaction, sent by a Celery task queued on commit. The row is the outbox:
``returns.tasks.requeue_stale_emails`` re-queues rows still ready after the
broker was down, so an email written is an email sent.
"""

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string

from returns.models import Claim, OutboundEmail

# template name → subject; the bodies are templates/emails/<name>.txt and .html
SUBJECTS = {
    "claim_received": "We received your after-sales request ({ref})",
    "information_requested": "We need more information about your request ({ref})",
    "claim_approved": "Your return is approved: {ref}",
    "claim_rejected": "About your after-sales request ({ref})",
}


def email_customer(*, claim: Claim, template: str, **context) -> OutboundEmail:
    """Write the email for ``claim`` and send it once the transaction commits."""
    from returns import tasks

    ref = claim.rma_number or f"claim {claim.pk}, order {claim.order_number}"
    context = {
        "claim": claim,
        "ref": ref,
        "support_email": settings.RMA_SUPPORT_EMAIL,
        "return_address": settings.RMA_RETURN_ADDRESS,
        **context,
    }
    email = OutboundEmail.objects.create(
        claim=claim,
        template=template,
        to=claim.customer_email,
        subject=SUBJECTS[template].format(ref=ref),
        body_text=render_to_string(f"emails/{template}.txt", context),
        body_html=render_to_string(f"emails/{template}.html", context),
    )
    # robust: a broker that is down must not turn a committed change into an error page;
    # the outbox sweep sends the email later.
    transaction.on_commit(lambda: tasks.send_email.delay(email.pk), robust=True)
    return email
