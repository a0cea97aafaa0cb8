"""Money is a Decimal with an ISO 4217 currency; this is the one rounding helper."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError, numbers
from django.conf import settings
from django.utils import translation

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


# "1,119.50 CAD", "4,500 JPY", "12.345 KWD": the amount, then the ISO code. The code rather than a symbol
# ("CA$", "$"): several of the store's currencies are dollars, and a code reads the same in every language.
# Parsed once: a list of 100 refunds formats 100 amounts, and Babel parses a pattern given as text every time.
MONEY_PATTERN = numbers.parse_pattern("#,##0.00 \xa4\xa4")
AMOUNT_PATTERN = numbers.parse_pattern("#,##0.00")
WHOLE_PATTERN = numbers.parse_pattern("#,##0")


def format_money(amount, currency: str) -> str:
    """An amount as a person reads it, with its currency: "1,119.50 CAD". The one place money becomes words.

    ``amount`` may be a Decimal, an int or the string an event's payload keeps ("49.900"); it is
    rounded half up to the currency's minor unit (never more decimals than the currency has: JPY 0,
    CAD 2, KWD 3), then written by Babel in the active language's digits and separators.
    """
    if not currency:
        return format_amount(amount, currency)
    value = _rounded(amount, currency)
    if value is None:
        return f"{amount} {currency}".strip()
    return numbers.format_currency(value, currency, format=MONEY_PATTERN, locale=_locale(), currency_digits=True)


def format_amount(amount, currency: str) -> str:
    """The number of ``format_money`` alone, for "0.00 → 8.50 USD" (the currency said once)."""
    value = _rounded(amount, currency)
    if value is None:
        return str(amount)
    places = MINOR_UNITS.get(currency, numbers.get_currency_precision(currency) if currency else 2)
    return numbers.format_decimal(
        value, format=AMOUNT_PATTERN if places else WHOLE_PATTERN, locale=_locale(), decimal_quantization=False
    )


def _rounded(amount, currency: str) -> Decimal | None:
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if currency in MINOR_UNITS:
        return quantize(value, currency)
    places = numbers.get_currency_precision(currency) if currency else 2
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _locale() -> Locale:
    """Babel's locale of the active language ("en-gb" → en_GB); the site's language outside a request."""
    return _babel_locale(translation.get_language() or settings.LANGUAGE_CODE)


@lru_cache(maxsize=64)
def _babel_locale(language: str) -> Locale:
    try:
        return Locale.parse(translation.to_locale(language))
    except (ValueError, UnknownLocaleError):
        return Locale.parse("en_GB")
