"""What the portal's Chromium tests share: links read back from the SMTP server, axe-core injected into
each page, and the page's weight as the browser received it."""

import email
import email.policy
import hashlib
import json
import re
from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
AXE_SHA256 = re.search(r"sha256: `([0-9a-f]{64})`", (AXE.parent / "README.md").read_text()).group(1)
PHONE = {"width": 390, "height": 844}
# "No page over 100 KB before photos" (issue 15).
MAX_PAGE_BYTES = 100_000


def messages(inbox) -> list:
    return [email.message_from_bytes(envelope.content, policy=email.policy.default) for envelope in inbox]


def link_in(inbox, subject_part: str, path_part: str) -> str:
    """The one link containing ``path_part`` in the newest email whose subject contains ``subject_part``,
    as written in its plain-text part; the HTML part has the same link."""
    matching = [m for m in messages(inbox) if subject_part in m["Subject"]]
    assert matching, [m["Subject"] for m in messages(inbox)]
    message = matching[-1]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    found = re.findall(rf"https?://\S+{re.escape(path_part)}\S+", text)
    assert len(found) == 1, found
    assert f'href="{found[0]}"' in html
    return found[0]


def assert_accessible(page) -> None:
    """axe-core's rules on the page as shown: no serious or critical violation."""
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256, "vendor/axe.min.js is not the recorded one"
    # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern
    # (an added <script> tag without the page's nonce would be refused).
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]][:5])
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{page.url}: {serious}"


def page_bytes(page) -> int:
    """What the browser loaded for the page: the document and every resource it asked for (decoded)."""
    return page.evaluate(
        """() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))
            .reduce((total, entry) => total + entry.decodedBodySize, 0)"""
    )


class Weights:
    """Each customer page's weight, kept for the issue's note in var/screenshots/page-weights.json."""

    def __init__(self, folder: Path):
        self.path = folder / "page-weights.json"
        self.found = json.loads(self.path.read_text()) if self.path.exists() else {}

    def weigh(self, page, name: str) -> int:
        size = page_bytes(page)
        self.found[name] = size
        self.path.write_text(json.dumps(dict(sorted(self.found.items())), indent=2) + "\n")
        assert 0 < size <= MAX_PAGE_BYTES, f"{name}: {size} bytes"
        return size
