"""System checks of our own, run by ``manage.py check --deploy``."""

from django.conf import settings
from django.core.checks import Error, Tags, register

# deploy/production.env.example's secret starts with this: copied as is, anyone who read the
# repository could sign customers' links and staff sessions.
PLACEHOLDER_MARK = "change-me"


@register(Tags.security, deploy=True)
def check_secret_key_is_not_a_placeholder(app_configs, **kwargs):
    if PLACEHOLDER_MARK in settings.SECRET_KEY.lower():
        return [
            Error(
                "DJANGO_SECRET_KEY is the placeholder of deploy/production.env.example.",
                hint='Set a fresh one: python -c "import secrets; print(secrets.token_urlsafe(50))"',
                id="backoffice.E001",
            )
        ]
    return []
