"""The demo's wing: a synthetic export, the fake Spotify (fake_spotify.py) and linking the demo user to it.

Tests and benchmarks import fake_spotify too; the Spotify client (orchestration/spotify/) never does.
"""
