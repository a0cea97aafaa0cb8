"""The beat task that reads the support mailbox (``CELERY_BEAT_SCHEDULE["read-inbox"]``)."""

from celery import shared_task


@shared_task
def read_mailbox() -> dict:
    """Every ``INBOUND_FETCH_SECONDS``: store what waits, as the system; the mailbox's lease turns away a
    second run while one is still reading, so overlapping beats do no harm."""
    from inbox.services import mailbox_read

    return mailbox_read().as_dict()
