"""In Chromium, under the Content-Security-Policy: the admin (login with a code, home, claim list, claim page with
its photo from S3, an approval posted, the dashboard's charts, the two-factor page) and the customer's pages
(lookup, order, claim form, status) without a single violation in the console."""

import pytest
from django.core.files.base import ContentFile
from django_otp.oath import totp
from PIL import Image

from accounts import services as accounts_services
from portal.tests.conftest import order_with_lines
from returns import links, services
from returns.models import ClaimStatus, ClaimType, Evidence, EvidenceKind
from returns.tests.factories import ROLES, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Playwright runs this before the page's own scripts, outside the page's policy.
REPORT_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || 'inline'} ${event.sample || ''}`);
});
"""


@pytest.fixture
def violations(page):
    """Every console message about the policy: Chromium's own, and each securitypolicyviolation event."""
    found = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            found.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text or "CSP violation" in message.text
            else None
        ),
    )
    return found


def jpeg() -> bytes:
    import io

    out = io.BytesIO()
    Image.new("RGB", (320, 240), "peru").save(out, "JPEG")
    return out.getvalue()


def test_the_watcher_sees_a_violation(page, live_server, violations):
    page.goto(f"{live_server.url}/portal/")
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = '1'; document.head.append(s); }")
    page.wait_for_timeout(200)
    assert any("script-src" in line for line in violations), violations


def test_admin_and_portal_run_under_the_policy_without_violations(
    page, live_server, django_user_model, settings, violations, shoot
):
    settings.TWO_FACTOR_REQUIRED = True
    manager = staff_user(django_user_model, "boss", ROLES["manager"])
    device = accounts_services.totp_device_pending(user=manager)
    device, _ = accounts_services.totp_device_confirm(
        user=manager, device_id=device.pk, code=f"{totp(device.bin_key):06d}"
    )
    order, lines = order_with_lines(received_days_ago=5)
    claim = services.claim_create(
        order=order,
        claim_type=ClaimType.NO_REASON,
        description="Does not fit.",
        order_line_ids=[lines[0].pk],
        by=manager,
    )
    Evidence.objects.create(
        claim=claim,
        file=ContentFile(jpeg(), name="box.jpg"),
        kind=EvidenceKind.PHOTO,
        content_type="image/jpeg",
        size_bytes=1,
        original_name="box.jpg",
        shows_whole_package=True,
    )

    # the login, with the authenticator's next code (the current one was spent enrolling)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss")
    page.fill("#id_otp_token", f"{totp(device.bin_key, drift=1):06d}")
    with page.expect_navigation():
        page.click("#login-form [type=submit]")
    assert page.url.endswith("/admin/")

    page.goto(f"{live_server.url}/admin/returns/claim/")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/admin/returns/claim/{claim.pk}/change/")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("[...document.images].every((image) => image.complete && image.naturalWidth > 0)")
    shoot(page, "csp-claim-page")
    with page.expect_navigation():
        page.click("#claim-actions button[value=approve]")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.APPROVED

    page.goto(f"{live_server.url}/admin/dashboard/")
    page.wait_for_selector("svg.chart")
    page.wait_for_load_state("networkidle")
    shoot(page, "csp-dashboard")
    page.goto(f"{live_server.url}/admin/two-factor/")
    page.wait_for_load_state("networkidle")

    # the customer's pages
    page.goto(f"{live_server.url}/portal/")
    page.goto(links.order_url(order).replace(settings.SITE_URL.rstrip("/"), live_server.url))
    page.wait_for_load_state("networkidle")
    page.goto(links.order_url(order).replace(settings.SITE_URL.rstrip("/"), live_server.url).rstrip("/") + "/claim/")
    page.wait_for_load_state("networkidle")
    page.goto(links.claim_status_url(claim).replace(settings.SITE_URL.rstrip("/"), live_server.url))
    page.wait_for_load_state("networkidle")

    assert violations == []
