from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from backoffice import files, health, sla, views
from shipments import views as shipment_views
from stores import views as store_views

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/sla/", admin.site.admin_view(sla.sla_report), name="sla-report"),
    path("admin/dashboard/", admin.site.admin_view(views.dashboard_view), name="dashboard"),
    path("admin/attention/", admin.site.admin_view(views.attention_view), name="attention"),
    # Every stored file, by a signed expiring link, to staff holding its permission (backoffice/files.py).
    path("admin/files/<str:token>/", admin.site.admin_view(files.private_file), name="private-file"),
    # Staff logins: the second factor (enrol, verify, recovery codes).
    path("admin/two-factor/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    # The customer's page, reached from the approval email: no login, a signed token.
    path("returns/tracking/<str:token>/", shipment_views.return_tracking, name="return-tracking"),
    # The store's webhooks: no login, each signed with SHOPIFY_WEBHOOK_SECRET.
    path("stores/shopify/webhooks/", store_views.shopify_webhook, name="shopify-webhooks"),
    # The customer's own pages: find the order, claim, follow the claim (signed links, no login).
    path("portal/", include("portal.urls")),
    # For the load balancer (live, ready) and monitoring (everything): backoffice/health.py.
    path("health/live/", health.live, name="health-live"),
    path("health/ready/", health.ChecksView.as_view(select=health.ready_checks), name="health-ready"),
    path("health/", health.ChecksView.as_view(select=health.full_checks), name="health"),
]
