"""Runs across domains: the sensors that close the registry rows of failed or canceled runs."""
