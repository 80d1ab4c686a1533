"""The installed package version, as every door reports it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("spotify-history")
except PackageNotFoundError:  # running from a checkout without install
    VERSION = "0.0.0"
