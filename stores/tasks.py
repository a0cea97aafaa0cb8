"""Thin Celery tasks: ids in, one service called, as the system (``stores.webhooks``)."""

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

# A passing database fault: tried again after 10 s, 20 s, 40 s… at most 10 min apart, then failed.
MAX_RETRIES = 6
RETRY_BACKOFF_SECONDS = 10
RETRY_BACKOFF_MAX_SECONDS = 600


@shared_task(bind=True, max_retries=MAX_RETRIES)
def process_webhook_delivery(self, delivery_id: int) -> str:
    from stores import webhooks

    final_attempt = self.request.retries >= self.max_retries
    try:
        return webhooks.delivery_process(delivery_id=delivery_id, final_attempt=final_attempt)
    except webhooks.TryAgain as error:
        countdown = get_exponential_backoff_interval(
            factor=RETRY_BACKOFF_SECONDS,
            retries=self.request.retries,
            maximum=RETRY_BACKOFF_MAX_SECONDS,
            full_jitter=False,
        )
        raise self.retry(exc=error, countdown=countdown) from None


@shared_task
def requeue_webhook_deliveries() -> int:
    from stores import webhooks

    return webhooks.deliveries_requeue()
