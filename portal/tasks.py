"""Thin Celery tasks: the order link is looked up and emailed off the request, so the page answers alike
whether or not the order exists."""

from celery import shared_task


@shared_task
def send_order_link(order_number: str, email: str, language: str) -> None:
    from portal.services import order_link_send

    order_link_send(order_number=order_number, email=email, language=language)
