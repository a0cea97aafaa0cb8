"""The webhook deliveries, read-only: what the store sent, when, and what became of it.

Customer service and managers look here for deliveries that failed or wait for a person (a received date
the carrier gives after a claim was approved); nobody edits a delivery.
"""

import json

from django.contrib import admin
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from returns.admin import ExactSearch, ServiceOnlyAdmin
from returns.instants import format_instant
from returns.models import Order
from stores.models import WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ExactSearch, ServiceOnlyAdmin):
    list_display = ("received", "topic", "order", "status", "attempts", "outcome_short")
    list_filter = ("status", "topic")
    # search_matches(): exact matches, each served by an index (Django's ``=`` compares upper cases,
    # which no index here serves, and casts the store's id to text).
    search_fields = ("=webhook_id", "=order_number", "=store_order_id")
    search_help_text = "A webhook id, an order number (#1001) or the store's order id (all exact)."
    show_full_result_count = False
    date_hierarchy = "received_at"
    fields = (
        "webhook_id",
        "topic",
        "shop_domain",
        "api_version",
        "triggered_at",
        "received_at",
        "status",
        "attempts",
        "processed_at",
        "outcome",
        "store_order_id",
        "order_link",
        "payload",
    )
    readonly_fields = fields

    def search_matches(self, term):
        matches = Q(webhook_id=term) | Q(order_number=term)
        if term.isascii() and term.isdigit() and int(term) < 2**63:  # the store's id is a bigint
            matches |= Q(store_order_id=int(term))
        return matches

    @admin.display(description="received", ordering="received_at")
    def received(self, delivery):
        return format_instant(delivery.received_at)

    @admin.display(description="order", ordering="order_number")
    def order(self, delivery):
        return delivery.order_number or (f"store id {delivery.store_order_id}" if delivery.store_order_id else "")

    @admin.display(description="outcome")
    def outcome_short(self, delivery):
        return Truncator(delivery.outcome).chars(140)

    @admin.display(description="order")
    def order_link(self, delivery):
        order_id = Order.objects.filter(number=delivery.order_number).values_list("pk", flat=True).first()
        if not delivery.order_number or order_id is None:
            return delivery.order_number
        try:
            url = reverse("admin:returns_order_change", args=[order_id])
        except NoReverseMatch:
            return delivery.order_number
        return format_html('<a href="{}">{}</a>', url, delivery.order_number)

    @admin.display(description="payload")
    def payload(self, delivery):
        try:
            text = json.dumps(json.loads(delivery.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = delivery.body
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', text)
