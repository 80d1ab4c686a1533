"""Housekeeping for a system that runs for years: the daily backup."""
