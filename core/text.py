"""Free text at the edges: control characters and line breaks found, or turned into spaces.

A line break in a value that ends up in an email header (an order number in a subject) would let it
add headers of its own; Django refuses such a header with ``BadHeaderError``. Identifiers with one are
refused where they enter; single-line texts built from them are cleaned with :func:`single_line`.
"""

import re

# C0 and C1 controls (tab, CR and LF among them), DEL, and Unicode's line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s{2,}")


def has_control_characters(value: str) -> bool:
    return bool(_CONTROL.search(value))


def single_line(value: str) -> str:
    """``value`` on one line: every control character a space, runs of spaces one, no spaces at the ends."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", value)).strip()
