"""The Content-Security-Policy on every staff and customer page, and no inline script or style without its nonce."""

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from portal.tests.conftest import order_with_lines
from returns import links, services
from returns.models import ClaimType
from returns.tests.factories import ROLES, staff_user
from returns.tests.test_services import add_whole_package_photo

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def assert_strict(response, path: str) -> None:
    """The header is there, nothing inline runs without the nonce, and eval only where the admin needs it."""
    policy = policy_of(response)
    assert policy["default-src"] == ["'self'"], path
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-inline'" not in policy["style-src"], path
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], path
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'self'"], path
    assert ("'unsafe-eval'" in policy["script-src"]) == path.startswith("/admin/"), path
    if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
        return
    html = response.content.decode()
    nonces = [value for value in policy["script-src"] if value.startswith("'nonce-")]
    for tag in INLINE_SCRIPT.findall(html) + STYLE_ELEMENT.findall(html):
        assert nonces and f'nonce="{nonces[0][7:-1]}"' in tag, f"{path}: {tag} runs without the nonce"
    assert not EVENT_HANDLER.search(html), f"{path}: an inline event handler"
    assert "javascript:" not in html, path


@pytest.fixture
def claim(django_user_model):
    agent = staff_user(django_user_model, "agent", ROLES["cs"])
    order, lines = order_with_lines(received_days_ago=5)
    claim = services.claim_create(
        order=order,
        claim_type=ClaimType.NO_REASON,
        description="Does not fit.",
        order_line_ids=[lines[0].pk],
        by=agent,
    )
    add_whole_package_photo(claim)
    return claim


def test_every_admin_page_sends_the_policy_and_nothing_inline_without_its_nonce(admin_user, claim):
    client = Client()
    client.force_login(admin_user)
    paths = ["/admin/", "/admin/dashboard/", "/admin/sla/", "/admin/attention/", "/admin/two-factor/"]
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        paths += [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_add")]  # an add page may answer 403
        instance = model._default_manager.order_by("pk").first()
        if instance is not None:
            paths.append(reverse(f"{prefix}_change", args=[instance.pk]))
    paths.append(f"/admin/returns/claim/{claim.pk}/change/")

    checked = 0
    for path in dict.fromkeys(paths):
        response = client.get(path)
        assert response.status_code in (200, 302, 403), (path, response.status_code)
        assert_strict(response, path)
        checked += response.status_code == 200
    assert checked >= 40


def test_the_login_page_and_a_locked_login_send_the_policy(django_user_model, settings):
    staff_user(django_user_model, "cs", ROLES["cs"])
    client = Client()
    assert_strict(client.get("/admin/login/"), "/admin/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        locked = client.post("/admin/login/", {"username": "cs", "password": "wrong"})
    assert locked.status_code == 429
    assert_strict(locked, "/admin/login/")


def test_every_customer_page_sends_the_strict_policy(claim):
    client = Client()
    pages = [
        "/portal/",
        links.order_url(claim.order),
        links.order_url(claim.order).rstrip("/") + "/claim/",
        links.claim_status_url(claim),
        links.tracking_url(claim) if claim.rma_number else None,
        "/portal/order/not-a-token/",
        "/no-such-page/",
        "/health/live/",  # answered ahead of the other middleware (backoffice/health.py)
    ]
    for url in filter(None, pages):
        path = re.sub(r"^https?://[^/]+", "", url)
        response = client.get(path)
        assert response.status_code in (200, 400, 404, 410), (path, response.status_code)
        assert_strict(response, path)


def test_stored_files_origin_is_allowed_for_images_and_video(admin_user, settings, s3_endpoint, claim):
    client = Client()
    client.force_login(admin_user)
    policy = policy_of(client.get(f"/admin/returns/claim/{claim.pk}/change/"))
    assert s3_endpoint in policy["img-src"] and s3_endpoint in policy["media-src"]

    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "backoffice.files.PrivateFileSystemStorage"}}
    policy = policy_of(client.get("/admin/"))
    assert policy["img-src"] == ["'self'"]


def test_production_headers_are_still_sent(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_SSL_REDIRECT = False
    response = client.get("/portal/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "Content-Security-Policy" in response


def test_the_copy_of_unfolds_skeleton_differs_only_by_the_nonces(settings):
    """An unfold upgrade that changes its skeleton must be copied again (templates/unfold/layouts/)."""
    from pathlib import Path

    import unfold

    original = (Path(unfold.__file__).parent / "templates/unfold/layouts/skeleton.html").read_text().splitlines()
    ours = (Path(settings.BASE_DIR) / "templates/unfold/layouts/skeleton.html").read_text().splitlines()
    assert ours[0].startswith("{# unfold 0.91.0's layouts/skeleton.html")
    added = [line for line in ours[1:] if line not in original]
    removed = [line for line in original if line not in ours]
    assert [line.strip() for line in added] == [
        """<meta name="htmx-config" content='{"inlineStyleNonce": "{{ request.csp_nonce }}"}'>""",
        '<style id="unfold-theme-colors" nonce="{{ request.csp_nonce }}">',
    ]
    assert [line.strip() for line in removed] == ['<style id="unfold-theme-colors">']
