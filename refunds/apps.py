from django.apps import AppConfig


class RefundsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "refunds"

    def ready(self):
        from refunds.services import ledger_uses
        from returns import ledger

        # Committed refunds count in every order line's ledger (returns cannot import this app).
        ledger.register(ledger_uses)
