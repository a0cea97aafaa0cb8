"""What the store sent us, kept as it came."""

from django.db import models
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "queued"
    PROCESSED = "processed", "processed"
    # A refund or a delivery event of an order not known here yet: applied when the order arrives.
    WAITING = "waiting", "waiting for its order"
    # The store or the carrier says something the back-office may not apply by itself (a received date
    # after a claim was approved): the outcome says what, and a person decides.
    NEEDS_REVIEW = "needs_review", "for a person to decide"
    FAILED = "failed", "failed"


class WebhookDelivery(models.Model):
    """One webhook as Shopify delivered it: signature checked, stored once per ``X-Shopify-Webhook-Id``,
    processed by ``stores.tasks.process_webhook_delivery`` (see ``stores.webhooks``)."""

    # Shopify's delivery id, the same on every retry of one delivery: each is processed once.
    webhook_id = models.CharField("webhook id", max_length=255, unique=True)
    topic = models.CharField(max_length=64)
    shop_domain = models.CharField(max_length=255, blank=True)
    api_version = models.CharField("API version", max_length=16, blank=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The raw body, as signed: the payload is read from it when processed.
    body = models.TextField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)
    # What processing did or why it could not, for a person.
    outcome = models.TextField(blank=True)
    # Shopify's id of the order the delivery is about (an order's ``id``, a refund's or an event's
    # ``order_id``), and our order number once known: a refund or a delivery event names only the id.
    store_order_id = models.BigIntegerField("store's order id", null=True, blank=True)
    order_number = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["store_order_id", "status"], name="stores_delivery_order_status"),
            models.Index(fields=["status", "updated_at"], name="stores_delivery_status_updated"),
            # The deliveries' search by our order number.
            models.Index(fields=["order_number"], name="stores_delivery_order_number"),
        ]

    def __str__(self):
        return f"{self.topic} {self.webhook_id}"
