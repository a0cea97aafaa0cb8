"""Money is a Decimal with an ISO 4217 currency; this is the one rounding helper."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Minor units of the currencies the store sells in (ISO 4217).
MINOR_UNITS = {
    "AUD": 2, "CAD": 2, "CHF": 2, "CNY": 2, "CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2,
    "HKD": 2, "JPY": 0, "KRW": 0, "KWD": 3, "NOK": 2, "NZD": 2, "PLN": 2, "SEK": 2,
    "SGD": 2, "USD": 2,
}  # fmt: skip
CURRENCY_CHOICES = [(code, code) for code in sorted(MINOR_UNITS)]


class MoneyError(ValueError):
    pass


# The columns are DecimalField(max_digits=14, decimal_places=3): every amount stays below this (callers check).
MAX_AMOUNT = Decimal(10) ** 11


def parse_amount(text: str, currency: str) -> Decimal:
    """Read an amount as the store wrote it ("12.50"), refusing floats' surprises.

    Only the digits 0-9: Python's ``Decimal`` also reads other scripts' digits ("١٢" is 12), which a
    person checking the figure would not read as the same number.
    """
    if currency not in MINOR_UNITS:
        raise MoneyError(f"unknown currency {currency!r}")
    text = text.strip()
    if not text.isascii():
        raise MoneyError(f"{text!r} is not an amount: write it with the digits 0-9")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise MoneyError(f"{text!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise MoneyError(f"{text!r} is not an amount of money")
    if amount != quantize(amount, currency):
        raise MoneyError(f"{text} has more decimals than {currency} allows")
    return amount


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit."""
    return amount.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]), rounding=ROUND_HALF_UP)


def format_money(amount, currency: str) -> str:
    """An amount as a person reads it, with its currency: "49.90 USD". The one place money becomes words.

    ``amount`` may be a Decimal, an int or the string an event's payload keeps ("49.900"); it is
    rounded half up to the currency's minor unit. A currency we do not know keeps two decimals.
    """
    return f"{format_amount(amount, currency)} {currency}".strip()


def format_amount(amount, currency: str) -> str:
    """The number of ``format_money`` alone, for "0.00 → 8.50 USD" (the currency said once)."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        return str(amount)
    if not value.is_finite():
        return str(amount)
    if currency in MINOR_UNITS:
        return str(quantize(value, currency))
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
