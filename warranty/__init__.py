"""Warranty coverage by serial number and replacement orders (finance issue)."""
