from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from django.views.static import serve

from backoffice import sla, views
from shipments import views as shipment_views
from stores import views as store_views

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/sla/", admin.site.admin_view(sla.sla_report), name="sla-report"),
    path("admin/dashboard/", admin.site.admin_view(views.dashboard_view), name="dashboard"),
    path("admin/attention/", admin.site.admin_view(views.attention_view), name="attention"),
    # Staff logins: the second factor (enrol, verify, recovery codes).
    path("admin/two-factor/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    # The customer's page, reached from the approval email: no login, a signed token.
    path("returns/tracking/<str:token>/", shipment_views.return_tracking, name="return-tracking"),
    # The store's webhooks: no login, each signed with SHOPIFY_WEBHOOK_SECRET.
    path("stores/shopify/webhooks/", store_views.shopify_webhook, name="shopify-webhooks"),
    # The customer's own pages: find the order, claim, follow the claim (signed links, no login).
    path("portal/", include("portal.urls")),
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
