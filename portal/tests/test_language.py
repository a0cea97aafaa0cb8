"""The customer's language: taken from the browser on the customer's pages, kept on the claim, and every
later email written in it. Adding a language is adding a catalogue: here a small French one, compiled with
gettext's msgfmt (scripts/test.sh installs gettext), stands for a real locale/fr/LC_MESSAGES/django.po."""

import subprocess
import uuid
from pathlib import Path

import pytest

from backoffice.settings import languages_in
from portal.tests.conftest import order_path, photo
from returns import services
from returns.models import Claim, ClaimType, OutboundEmail

pytestmark = pytest.mark.django_db

FRENCH = {
    "Returns, DOA and warranty: find your order": "Retours, DOA et garantie : retrouvez votre commande",
    "Email me the link": "Envoyez-moi le lien",
    "We received your after-sales request ({ref})": "Nous avons reçu votre demande SAV ({ref})",
    "Your return is approved: {ref}": "Votre retour est accepté : {ref}",
    "Order number": "Numéro de commande",
    "Send the tracking number": "Envoyer le numéro de suivi",
    "No-reason return": "Retour sans motif",
}


def write_catalogue(folder: Path, code: str, messages: dict) -> Path:
    target = folder / code / "LC_MESSAGES"
    target.mkdir(parents=True)
    entries = "".join(f'msgid "{msgid}"\nmsgstr "{msgstr}"\n\n' for msgid, msgstr in messages.items())
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Language: ' + code + '\\n"\n\n'
    (target / "django.po").write_text(header + entries, encoding="utf-8")
    subprocess.run(["msgfmt", "-o", str(target / "django.mo"), str(target / "django.po")], check=True)
    return folder


@pytest.fixture
def french(settings, tmp_path):
    folder = write_catalogue(tmp_path / "locale", "fr", FRENCH)
    settings.LOCALE_PATHS = [folder, *settings.LOCALE_PATHS]
    settings.LANGUAGES = languages_in(folder)
    return folder


def test_a_catalogue_in_locale_adds_its_language(french):
    assert languages_in(french) == [("en", "English"), ("fr", "French")]


def test_pages_speak_the_browsers_language(client, french):
    french_page = client.get("/portal/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")
    german_page = client.get("/portal/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")

    assert french_page["Content-Language"] == "fr"
    assert '<html lang="fr">' in french_page.content.decode()
    assert "Envoyez-moi le lien" in french_page.content.decode()
    assert "Accept-Language" in french_page["Vary"]
    # no German catalogue: English
    assert german_page["Content-Language"] == "en"
    assert "Email me the link" in german_page.content.decode()


def test_the_claims_language_is_kept_for_every_later_email(client, cs, french, order_and_lines):
    order, lines = order_and_lines
    client.post(
        order_path(order) + "claim/",
        {
            "claim_type": ClaimType.NO_REASON,
            "description": "Trop petit.",
            f"units_{lines[0].pk}": "1",
            "submission_key": str(uuid.uuid4()),
            "whole_package_photo": photo("colis.jpg"),
        },
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    claim = Claim.objects.get()

    # customer service approves from the admin, in English
    services.claim_approve(claim_id=claim.pk, by=cs)

    claim.refresh_from_db()
    assert claim.language == "fr"
    subjects = list(OutboundEmail.objects.filter(claim=claim).order_by("pk").values_list("subject", flat=True))
    assert subjects == [
        f"Nous avons reçu votre demande SAV (claim {claim.pk}, order {order.number})",
        f"Votre retour est accepté : {claim.rma_number}",
    ]
    approval = OutboundEmail.objects.get(claim=claim, template="claim_approved")
    assert "Retour sans motif" in approval.body_text and "Retour sans motif" in approval.body_html
    assert '<html lang="fr">' in approval.body_html


def test_claims_typed_in_by_staff_are_written_in_the_sites_language(cs, french, order_and_lines):
    order, lines = order_and_lines

    claim = services.claim_create(
        order=order, claim_type=ClaimType.NO_REASON, description="x", units={lines[0].pk: 1}, by=cs
    )

    assert claim.language == ""
    assert OutboundEmail.objects.get(claim=claim).subject.startswith("We received your after-sales request")


def test_the_tracking_page_speaks_the_browsers_language_too(client, cs, french):
    from urllib.parse import urlsplit

    from returns import links
    from shipments.tests.conftest import approved_claim

    claim = approved_claim(cs)

    page = client.get(urlsplit(links.tracking_url(claim)).path, HTTP_ACCEPT_LANGUAGE="fr")

    assert page["Content-Language"] == "fr"
    assert "Envoyer le numéro de suivi" in page.content.decode()
