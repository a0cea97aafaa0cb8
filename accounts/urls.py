from django.contrib import admin
from django.urls import path

from accounts import views

urlpatterns = [
    path("", admin.site.admin_view(views.two_factor), name="two-factor"),
    path("qr.svg", admin.site.admin_view(views.two_factor_qr), name="two-factor-qr"),
]
