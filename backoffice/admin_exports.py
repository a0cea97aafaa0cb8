"""Export links on the admin's lists: the list's own filters, search and ordering, to CSV or Excel.

``ExportMixin`` goes in front of a ``ModelAdmin`` (``backoffice/admin.py``). It adds
``<list>/export/<csv|xlsx>/`` and, for managers, two links in the list's object
tools (``templates/admin/change_list_object_tools.html``) that carry the list's
query string. Small exports stream to the browser; large ones are a Celery task
that emails a link (``backoffice/exports.py``).
"""

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from kombu.exceptions import OperationalError

from backoffice import exports
from backoffice.access import is_manager

LINKS = (("csv", "Export CSV"), ("xlsx", "Export Excel"))


def _no_page(changelist, request):
    changelist.result_count = changelist.full_result_count = None
    changelist.result_list = changelist.queryset.none()
    changelist.can_show_all = changelist.multi_page = False


class ExportMixin:
    def _export_url_name(self) -> str:
        opts = self.model._meta
        return f"{opts.app_label}_{opts.model_name}_export"

    def get_urls(self):
        export = path("export/<str:fmt>/", self.admin_site.admin_view(self.export_view), name=self._export_url_name())
        return [export, *super().get_urls()]

    def get_changelist(self, request, **kwargs):
        """For an export (``request.export_only``), the list without its page: its filters, search and ordering
        build the queryset, and neither the page's bounded count nor its rows are read (the export reads its
        own, ``exports.stream_pks``): the first byte waits for no work the rows do not need."""
        changelist = super().get_changelist(request, **kwargs)
        if getattr(request, "export_only", False):
            return type(f"Export{changelist.__name__}", (changelist,), {"get_results": _no_page})
        return changelist

    def changelist_view(self, request, extra_context=None):
        if is_manager(request.user):
            query = request.GET.urlencode()
            links = [
                (label, reverse(f"admin:{self._export_url_name()}", args=[fmt]) + (f"?{query}" if query else ""))
                for fmt, label in LINKS
            ]
            extra_context = {**(extra_context or {}), "export_links": links}
        return super().changelist_view(request, extra_context)

    def export_view(self, request, fmt):
        if fmt not in exports.FORMATS or not (is_manager(request.user) and self.has_view_permission(request)):
            raise PermissionDenied
        opts = self.model._meta
        query = request.GET.urlencode()
        back = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + (f"?{query}" if query else "")
        request.export_only = True
        try:
            queryset = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            messages.error(request, "These filters are not valid: nothing was exported.")
            return HttpResponseRedirect(back)
        export = exports.export_for(self.model)
        pks = exports.stream_pks(queryset)
        if pks is not None:
            chunks = exports.csv_chunks if fmt == "csv" else exports.xlsx_chunks
            response = StreamingHttpResponse(chunks(export, queryset, pks=pks), content_type=exports.FORMATS[fmt])
            response["Content-Disposition"] = f'attachment; filename="{exports.filename(export, fmt)}"'
            return response
        from backoffice.tasks import export_to_storage

        try:
            export_to_storage.delay(model_label=opts.label_lower, fmt=fmt, query_string=query, user_id=request.user.pk)
        except OperationalError:
            messages.error(request, "The export could not be queued (the task queue is down); try again shortly.")
            return HttpResponseRedirect(back)
        hours = exports.link_expire_seconds() / 3600
        where = request.user.email or "your address (none is set on your account: ask an administrator)"
        messages.info(
            request,
            f"More than {exports.stream_max_rows():,} rows: the {fmt.upper()} file is being prepared. "
            f"A link to it will be emailed to {where}; the link works for {hours:g} hours.",
        )
        return HttpResponseRedirect(back)
