"""Two fixes to django-unfold's list rendering, applied when the app loads.

unfold 0.91's ``items_for_result`` rebuilds every column header for every row (``list(result_headers(cl))``,
only to read each header's text for the cell's ``data-label``): for a page of 100 rows and 10 sortable
columns, 3,000 query strings built to be thrown away. It was most of a list page's time (the refunds queue:
1,010 header passes for 100 rows). Upstream fixed it after 0.91 (unfoldadmin/django-unfold#2172, "remove
extra headers for changelist rows"); the headers are the same for every row of one list, so here they are
built once per ``ChangeList`` and reused. Remove this module once the pinned unfold has the fix
(``test_list_headers_are_built_once_per_page`` says when the patch no longer finds what it replaces).

unfold's results template also asks every row for ``cl.model_admin.list_sections``, an option its
``ModelAdmin`` does not define: each miss makes Django's template engine call ``dir()`` on the admin (about 200
a page) before it gives up. ``ModelAdmin`` gets the option's empty default, which the template reads as "no
sections", as it read the miss.
"""

from unfold.admin import ModelAdmin
from unfold.templatetags import unfold_list

_HEADERS = "_rma_result_headers"


def _result_headers_once(cl):
    """unfold's ``result_headers(cl)``, computed on the first call for this list and replayed after."""
    headers = cl.__dict__.get(_HEADERS)
    if headers is None:
        headers = list(_unfold_result_headers(cl))
        setattr(cl, _HEADERS, headers)
    return iter(headers)


_unfold_result_headers = unfold_list.result_headers


def install_unfold_list_fixes() -> None:
    if unfold_list.result_headers is not _result_headers_once:
        unfold_list.result_headers = _result_headers_once
    if not hasattr(ModelAdmin, "list_sections"):
        ModelAdmin.list_sections = ()
