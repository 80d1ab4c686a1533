"""The GPT Action door and the HTTP hardening: an OpenAPI document that validates and respects
ChatGPT's limits, schemathesis over it finding no 5xx, and security headers, CORS allow-list,
request ids and request-size limits."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import World, live_server, make_app
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from mcp_api.tools import TOOLS


@pytest.fixture(scope="module")
def client(data: World) -> Iterator[TestClient]:
    app = make_app(public_base_url="https://history.example.org", cors_origins=["https://chat.openai.com"])
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for methods in document["paths"].values() for op in methods.values()]


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_the_server_url_comes_from_public_base_url(document: dict[str, Any]) -> None:
    assert document["servers"] == [{"url": "https://history.example.org"}]


def test_one_operation_per_tool(document: dict[str, Any]) -> None:
    ops = {
        op["operationId"]: (path, method)
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    }
    assert ops == {t.operation_id: (t.path, "get") for t in TOOLS.values()}
    # The first round's eleven stay; each tool added since is listed by the test of its namespace.
    assert set(ops) >= {
        "history_taste_summary", "history_top_artists", "history_top_tracks", "history_listening_heatmap",
        "history_repeat_rate", "history_coverage", "ops_sync_status", "ops_latest_imports",
        "spotify_get_top", "history_search", "ops_latest_job_runs",
    }  # fmt: skip
    assert len(ops) == len(TOOLS)


def test_chatgpt_limits(document: dict[str, Any]) -> None:
    for op in operations(document):
        assert len(op["summary"]) <= 300 and len(op["description"]) <= 300, op["operationId"]
        for parameter in op["parameters"]:
            assert parameter["in"] == "query"  # no custom headers: GPT Actions cannot send them
            assert 0 < len(parameter["description"]) <= 700
        assert set(op["responses"]) == {"200", "400", "401", "403", "404", "429", "503"}
    assert len(json.dumps(document)) < 100_000


def test_bearer_auth_everywhere(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "spotify-history api-key create",
    }
    assert document["security"] == [{"bearerAuth": []}]


def test_internal_doors_are_not_in_the_gpt_document(document: dict[str, Any]) -> None:
    assert not [path for path in document["paths"] if not path.startswith("/v1/")]


def test_schemathesis_finds_no_server_errors(data: World, tmp_path: Path) -> None:
    """Property-based requests from the OpenAPI document, with a valid key: no 5xx, and every answer
    is documented and matches its schema."""
    listener = data["efrrowini"]
    with live_server() as base:
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--header",
            f"Authorization: Bearer {listener.key}",
            "--max-examples",
            "40",
            "--seed",
            "20240701",
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path),
        ]
        # In tmp_path: schemathesis keeps a cache folder (.schemathesis/) in its working directory.
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert f"Tested: {len(TOOLS)}" in output and "No issues found" in output, output[-3000:]


# -- hardening ----------------------------------------------------------------------------------------


def test_security_headers_and_request_ids(client: TestClient, data: World) -> None:
    for response in (
        client.get("/healthz"),
        client.get("/v1/history/top-artists"),  # 401
        client.get("/v1/history/top-artists", headers=data["efrrowini"].auth),
    ):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"
        assert headers["strict-transport-security"].startswith("max-age=")  # PUBLIC_BASE_URL is https
        assert len(headers["x-request-id"]) == 32
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    unsafe = client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 100})
    assert unsafe.headers["x-request-id"] != "a b\tc" + "x" * 100
    error = client.get("/v1/history/top-artists", headers={"X-Request-ID": "req-42"})
    assert error.json()["request_id"] == "req-42"


def test_no_hsts_over_plain_http(data: World) -> None:
    with TestClient(make_app(public_base_url="http://127.0.0.1:8000")) as c:
        assert "strict-transport-security" not in c.get("/healthz").headers


def test_cors_allows_only_configured_origins(client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/v1/history/top-artists", headers={"Origin": "https://chat.openai.com", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://chat.openai.com"
    refused = client.options("/v1/history/top-artists", headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    simple = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_request_size_limit(data: World) -> None:
    auth = data["efrrowini"].auth
    with TestClient(make_app(max_request_bytes=2048)) as c:
        big = {"tool": "ops.sync_status", "args": {}, "padding": "x" * 4096}
        declared = c.post("/mcp/call", json=big, headers=auth)
        assert declared.status_code == 413 and declared.json()["error_type"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
            yield b'{"tool": "ops.sync_status", "args": {}, "padding": "'
            for _ in range(10):
                yield b"x" * 1024
            yield b'"}'

        streamed = c.post("/mcp/call", content=chunks(), headers={**auth, "Content-Type": "application/json"})
        assert streamed.status_code == 413
        small = c.post("/mcp/call", json={"tool": "ops.sync_status", "args": {}}, headers=auth)
        assert small.status_code == 200


def test_long_query_strings_are_a_clean_4xx(client: TestClient, data: World) -> None:
    response = client.get("/v1/history/top-artists", params={"start": "2" * 5000}, headers=data["efrrowini"].auth)
    assert response.status_code == 400


def test_the_catalog_lists_every_tool_with_schemas(client: TestClient, data: World) -> None:
    catalog = client.get("/mcp/tools", headers=data["efrrowini"].auth).json()["tools"]
    assert [t["name"] for t in catalog] == list(TOOLS)
    for entry in catalog:
        assert entry["input_schema"]["type"] == "object"
        assert entry["input_schema"]["additionalProperties"] is False
        assert entry["output_schema"]["type"] == "object"
        assert len(entry["description"]) <= 300
    top = next(t for t in catalog if t["name"] == "history.top_artists")["input_schema"]["properties"]
    assert top["limit"] == {
        "default": 10,
        "description": "How many items to list (1-50).",
        "maximum": 50,
        "minimum": 1,
        "title": "Limit",
        "type": "integer",
    }
    assert top["days"]["maximum"] == 10_000 and top["start"]["format"] == "date"
