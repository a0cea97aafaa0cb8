"""``{% load display %}``: money, instants and days in templates (emails, admin pages) through the one
helper each (``returns.money``, ``returns.instants``), so every page and email reads them the same way."""

from django import template

from returns import instants, money

register = template.Library()


@register.filter
def instant(value) -> str:
    """``{{ claim.submitted_at|instant }}`` → "30 Nov 2026 14:00 (Asia/Shanghai)"."""
    return instants.format_instant(value)


@register.filter
def day(value) -> str:
    """``{{ order.received_on|day }}`` → "30 Nov 2026"."""
    return instants.format_day(value)


@register.filter
def money_in(amount, currency) -> str:
    """``{{ refund.total|money_in:refund.currency }}`` → "119.00 CAD"; "" when there is no amount."""
    if amount in (None, ""):
        return ""
    return money.format_money(amount, currency or "")


@register.filter
def amount_in(amount, currency) -> str:
    """The number alone, rounded and written as ``money_in`` writes it, where the currency follows apart."""
    if amount in (None, ""):
        return ""
    return money.format_amount(amount, currency or "")
