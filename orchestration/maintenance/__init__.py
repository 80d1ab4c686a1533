"""Keeping the history for years: backup and restore (more housekeeping lives beside it)."""
