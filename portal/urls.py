from django.urls import path

from portal import views

urlpatterns = [
    path("", views.lookup, name="portal-lookup"),
    path("order/<str:token>/", views.order_page, name="portal-order"),
    path("order/<str:token>/claim/", views.claim_new, name="portal-claim-new"),
    path("claim/<str:token>/", views.claim_page, name="portal-claim"),
    path("claim/<str:token>/answer/", views.claim_answer, name="portal-claim-answer"),
    path("claim/<str:token>/files/", views.claim_files, name="portal-claim-files"),
    path("claim/<str:token>/cancel/", views.claim_cancel, name="portal-claim-cancel"),
]
