"""Thin Celery tasks: ids in, fresh rows loaded, one service called."""

from celery import shared_task

# Network faults an SMTP send can meet; anything else is a bug and fails loudly.
_SMTP_FAULTS = (OSError,)


@shared_task(bind=True, autoretry_for=_SMTP_FAULTS, retry_backoff=5, retry_backoff_max=600, max_retries=8)
def send_email(self, email_id: int) -> None:
    from returns.services import email_send

    email_send(email_id=email_id, final_attempt=self.request.retries >= self.max_retries)


@shared_task
def requeue_stale_emails() -> int:
    from returns.services import email_requeue_stale

    return email_requeue_stale()


@shared_task
def requeue_thumbnails() -> int:
    from returns.services import evidence_requeue_thumbnails

    return evidence_requeue_thumbnails()


@shared_task
def make_evidence_thumbnail(evidence_id: int) -> None:
    from returns.services import evidence_make_thumbnail

    evidence_make_thumbnail(evidence_id=evidence_id)
