"""The customer's language on the pages customers open without logging in (portal, the tracking page).

Staff pages stay in the site's language; a customer's page speaks the browser's (``Accept-Language``), among
``settings.LANGUAGES`` (English, and each language with a catalogue under ``locale/``). The claim keeps the
language it was made in, for every later email (``returns.notifications``).
"""

import functools

from django.utils import translation
from django.utils.cache import patch_vary_headers


def customer_language(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        language = translation.get_language_from_request(request)
        with translation.override(language):
            request.LANGUAGE_CODE = translation.get_language()
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()
        response["Content-Language"] = language
        patch_vary_headers(response, ("Accept-Language",))
        return response

    return wrapper
