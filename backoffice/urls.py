from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import path, re_path
from django.views.generic import RedirectView
from django.views.static import serve

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]

if settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    # Embedded run: evidence on disk, shown to logged-in staff only. With
    # object storage the admin links to signed, time-limited URLs instead.
    urlpatterns.append(
        re_path(
            r"^media/(?P<path>.*)$",
            staff_member_required(serve),
            {"document_root": settings.MEDIA_ROOT},
        )
    )
