"""Thin Celery tasks: ids in, one service called.

``execute_refund`` is safe to run twice, concurrently, or after its worker was
killed (``acks_late`` and ``task_reject_on_worker_lost`` are set for every task in
settings): the service locks the row, holds a lease while it calls the provider,
and the provider call carries the refund's idempotency key.
"""

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings


@shared_task(bind=True, max_retries=settings.REFUND_MAX_RETRIES)
def execute_refund(self, refund_id: int) -> str:
    from refunds import services

    final_attempt = self.request.retries >= self.max_retries
    try:
        return services.refund_execute(refund_id=refund_id, final_attempt=final_attempt)
    except services.ProviderUnavailable as error:
        countdown = get_exponential_backoff_interval(
            factor=settings.REFUND_RETRY_BACKOFF_SECONDS,
            retries=self.request.retries,
            maximum=settings.REFUND_RETRY_BACKOFF_MAX_SECONDS,
            full_jitter=False,
        )
        raise self.retry(exc=error, countdown=countdown) from None


@shared_task
def requeue_stuck_refunds() -> int:
    from refunds import services

    return services.refunds_requeue_stuck()
