"""The manager's path in a real browser (Debian's Chromium through Playwright): dashboard, filter, claims, CSV."""

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from returns.models import ClaimType, DoaReason
from returns.tests.factories import ROLES, ClaimFactory, ClaimItemFactory, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_reads_the_dashboard_filters_it_and_exports_the_claims_behind_a_chart(
    page, live_server, django_user_model, tmp_path
):
    staff_user(django_user_model, "boss", ROLES["manager"])
    now = timezone.now()
    doa = [
        ClaimFactory(claim_type=ClaimType.DOA, doa_reason=DoaReason.DAMAGE, submitted_at=now - timedelta(days=d))
        for d in (1, 2, 9)
    ]
    for claim in doa:
        ClaimItemFactory(claim=claim)
    for d in (1, 3):
        ClaimItemFactory(claim=ClaimFactory(claim_type=ClaimType.WARRANTY, submitted_at=now - timedelta(days=d)))

    page.goto(f"{live_server.url}/admin/login/?next=/admin/dashboard/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "pw-boss")
    page.click("#login-form [type=submit]")
    page.wait_for_selector("svg.chart")

    assert page.locator("svg.chart").count() >= 5
    assert page.locator("#chart-claims-per-week rect.bar").count() >= 3  # DOA and warranty columns
    titles = page.locator("#chart-claims-per-week rect.bar title").all_text_contents()
    assert any("Warranty claim" in title for title in titles)
    assert page.locator("#chart-claims-per-week title").first.text_content() == "Claims per week by type"
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    page.select_option("#id_claim_type", "doa")
    page.click("#dashboard-filters button[type=submit]")
    page.wait_for_url("**claim_type=doa**")
    titles = page.locator("#chart-claims-per-week rect.bar title").all_text_contents()
    assert titles and all("DOA return" in title for title in titles)
    assert "3 claims made" in page.locator("#chart-claims-per-week desc").text_content()

    page.click("#claims-per-week a.claims-link")
    page.wait_for_url("**/admin/returns/claim/?**")
    assert "claim_type__exact=doa" in page.url
    with page.expect_download() as download_info:
        page.click("text=Export CSV")
    download = download_info.value
    assert download.suggested_filename.startswith("claims-") and download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert sorted(int(row["Claim ID"]) for row in rows) == sorted(claim.pk for claim in doa)
    assert {row["Claim type"] for row in rows} == {"DOA return (7 days)"}
