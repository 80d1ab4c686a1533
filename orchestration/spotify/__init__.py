"""The Spotify connection: OAuth, the encrypted token store, the Web API client, polling and backfill.

Plain modules without Dagster (orchestration/defs/spotify/ wires them to partitions and a
sensor). The stand-in Spotify for tests, benchmarks and the demo is orchestration/demo/fake_spotify.py:
nothing here imports it.
"""
