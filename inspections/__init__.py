"""Inspection of each returned item against the policy checklist (warehouse issue)."""
