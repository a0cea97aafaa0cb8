"""Refunds, their lines and their execution through payment providers (finance issue)."""
