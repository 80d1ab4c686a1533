"""The Spotify connection: OAuth, the encrypted token store, the Web API client, polling and backfill.

Plain modules without Dagster (orchestration/defs/spotify/ wires them to partitions and a
sensor); fake.py is a stand-in Spotify for tests and the demo.
"""
