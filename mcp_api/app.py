"""FastAPI application. For now only health; the tools over the marts arrive with the API issue."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="Spotify listening history", version="0.1.0")


@app.get("/healthz", tags=["ops"], summary="Liveness check")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
