"""The login form with its code, and the list of failed logins where a manager unlocks one."""

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import F
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from unfold.admin import ModelAdmin

from accounts import services
from accounts.forms import StaffLoginForm

admin.site.login_form = StaffLoginForm
admin.site.login_template = "accounts/login.html"


class LockedFilter(admin.SimpleListFilter):
    title = "locked"
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return (("yes", "Locked"), ("no", "Not locked"))

    def queryset(self, request, queryset):
        locked = {"failures_since_start__gte": settings.AXES_FAILURE_LIMIT}
        if self.value() == "yes":
            return queryset.filter(**locked)
        if self.value() == "no":
            return queryset.exclude(**locked)
        return queryset


@admin.register(AccessAttempt)
class AccessAttemptAdmin(ModelAdmin, AxesAccessAttemptAdmin):
    """Failed logins by username, address and browser; "Unlock" lifts a lock (``accounts.services.login_unlock``)."""

    list_display = ("username", "ip_address", "failures_since_start", "locked", "attempt_time", "user_agent")
    list_filter = (LockedFilter, "attempt_time")
    search_fields = ("=username", "=ip_address")
    ordering = (F("attempt_time").desc(),)
    actions = ("unlock",)

    @admin.display(boolean=True, description="locked")
    def locked(self, obj) -> bool:
        return obj.failures_since_start >= settings.AXES_FAILURE_LIMIT

    @admin.action(description="Unlock the selected logins", permissions=["delete"])
    def unlock(self, request, queryset):
        count = services.login_unlock(attempt_ids=queryset.values_list("pk", flat=True), by=request.user)
        messages.success(request, f"Unlocked {count} login(s): they can sign in again now.")

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Only through "Unlock", which records who unlocked what.
        return request.user.has_perm(services.UNLOCK_PERMISSION) and obj is None

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


# django-otp's own admins (a superuser removes a lost phone's device there), in the console's look.
for model, model_admin in ((TOTPDevice, TOTPDeviceAdmin), (StaticDevice, StaticDeviceAdmin)):
    admin.site.unregister(model)
    admin.site.register(model, type(model_admin.__name__, (ModelAdmin, model_admin), {}))
