from django.core.management.base import BaseCommand

from backoffice.roles import ROLE_PERMISSIONS, sync_roles


class Command(BaseCommand):
    help = "Create the staff groups and set their permissions (safe to run again)."

    def handle(self, *args, **options):
        sync_roles()
        self.stdout.write(f"Roles in place: {', '.join(ROLE_PERMISSIONS)}")
