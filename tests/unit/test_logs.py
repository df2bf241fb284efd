"""The daemon's log lines: uvicorn's own lines come out under our names in our formats."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from campaignd.config import LogFormat, LogSettings
from campaignd.daemon.logs import setup_logging
from campaignd.http.server import HttpServer


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {n: logging.getLogger(n).level for n in ("uvicorn", "uvicorn.error")}
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


async def _failing(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        raise RuntimeError("boom in the app")


async def _serve_one_failing_request() -> None:
    server = HttpServer(_failing, "127.0.0.1:0")
    server.start()
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient() as client:
            got = await client.get(f"http://127.0.0.1:{server.port}/x")
        assert got.status_code == 500
    finally:
        await server.stop()


@pytest.mark.usefixtures("restore_logging")
async def test_uvicorn_lines_are_labelled_http_server_in_text() -> None:
    out = io.StringIO()
    setup_logging(LogSettings(level="INFO"), out)
    await _serve_one_failing_request()
    lines = [line for line in out.getvalue().splitlines() if line and line[0].isupper()]
    assert any(line.startswith("INFO    http.start: ") for line in lines), lines
    assert "ERROR   http.server: Exception in ASGI application" in lines, lines
    assert not any(" error: " in line or "uvicorn" in line for line in lines), lines
    assert not any("Started server process" in line for line in lines), lines  # http.start says it


@pytest.mark.usefixtures("restore_logging")
async def test_uvicorn_lines_are_labelled_http_server_in_json() -> None:
    out = io.StringIO()
    setup_logging(LogSettings(level="INFO", format=LogFormat.JSON), out)
    await _serve_one_failing_request()
    records = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    [failed] = [r for r in records if r["level"] == "error"]
    assert (failed["logger"], failed["action"]) == ("http.server", "http.server")
    assert "boom in the app" in failed["exception"]
    assert not any(r["logger"].startswith("uvicorn") for r in records), records
