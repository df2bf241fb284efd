"""CSV upload through the API: imported in the background by the CLI's use case, progress and
counts polled by id; bad uploads refused before anything is written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from campaignd.api.app import create_api_app
from campaignd.api.tokens import create_token
from campaignd.db.migrate import upgrade
from campaignd.domain import OptIn, utcnow
from campaignd.store.sql import SqlStore
from tests.api.conftest import BASE, Api, api_settings

CSV = b"email,name\nann@example.com,Ann\nnot-an-address,Bad\nbob@example.com,Bob\n"


async def _finished(client: httpx.AsyncClient, job: dict[str, Any]) -> dict[str, Any]:
    for _ in range(200):
        got = (await client.get(f"/imports/{job['id']}")).json()
        if got["status"] != "running":
            return dict(got)
        await asyncio.sleep(0.05)
    raise AssertionError("import did not finish")


def _upload(client: httpx.AsyncClient, body: bytes, **params: str) -> Any:
    return client.post(
        "/imports", content=body, params=params, headers={"content-type": "text/csv"}
    )


@pytest.fixture
async def sql_client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, SqlStore]]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    await upgrade(url)
    store = await SqlStore.open(url)
    app = create_api_app(store, api_settings(max_import_size=2048))
    _, token = await create_token(store, "shop", read_only=False, now=utcnow())
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            yield client, store
    finally:
        await app.state.ctx.imports.close()
        await store.close()


async def test_upload_is_imported_in_the_background_on_sqlite(
    sql_client: tuple[httpx.AsyncClient, SqlStore],
) -> None:
    client, store = sql_client
    news = await store.create_list("news", OptIn.SINGLE, "")
    got = await _upload(client, CSV, lists=str(news.id), status="confirmed")
    assert got.status_code == 202, got.text
    job = await _finished(client, got.json())
    assert job["status"] == "finished", job
    assert (job["rows"], job["inserted"], job["errors"]) == (3, 2, 1)
    assert job["bytes_read"] == job["bytes_total"] == len(CSV)
    ann = await store.get_subscriber("ann@example.com")
    assert [(s.list_name, s.status) for s in ann.subscriptions] == [("news", "confirmed")]
    again = await _finished(client, (await _upload(client, CSV, lists=str(news.id))).json())
    assert (again["inserted"], again["skipped"]) == (0, 2)


async def test_bad_uploads_are_refused_and_nothing_is_written(
    sql_client: tuple[httpx.AsyncClient, SqlStore],
) -> None:
    client, store = sql_client
    assert (await _upload(client, CSV, lists="77")).status_code == 404
    assert (await _upload(client, CSV, lists="1,x")).status_code == 422
    assert (await _upload(client, CSV, mode="other")).status_code == 422
    assert (await _upload(client, b"")).status_code == 422
    assert (await _upload(client, b"email\n" + b"a@example.com\n" * 200)).status_code == 413
    plain = await client.post("/imports", content=CSV, headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    assert (await client.get("/imports/1")).status_code == 404
    with pytest.raises(Exception, match="no subscriber"):
        await store.get_subscriber("ann@example.com")


async def test_a_file_without_an_email_column_fails_the_job(api: Api) -> None:
    got = await _upload(api.client, b"name\nAnn\n")
    assert got.status_code == 202
    job = await _finished(api.client, got.json())
    assert job["status"] == "failed" and "email" in job["error"]
    assert await api.store.lists() == []


async def test_read_only_token_cannot_upload(api: Api) -> None:
    got = await api.client.post(
        "/imports", content=CSV, headers={**api.auth(api.reader), "content-type": "text/csv"}
    )
    assert got.status_code == 403
    assert (await api.client.get("/imports/1", headers=api.auth(api.reader))).status_code == 404


async def test_at_most_two_imports_run_at_once() -> None:
    from campaignd.api.imports import ImportJob, ImportJobs
    from campaignd.errors import Conflict
    from campaignd.store.memory import MemoryStore

    jobs = ImportJobs()
    for i in (1, 2):
        jobs.jobs[i] = ImportJob(id=i, status="running", bytes_read=0, bytes_total=1)
    with pytest.raises(Conflict, match="2 imports are running"):
        jobs.start(MemoryStore(), object(), Path("/nonexistent"), 1)
    assert list(jobs.jobs) == [1, 2] and not jobs.tasks


LATIN1 = "email,name\nzoe@example.com,Zoë Ærø\nnot-an-address,Bad\n,Empty\n".encode("latin-1")


@pytest.mark.parametrize(
    ("params", "content_type"),
    [
        ({"encoding": "latin-1"}, "text/csv"),
        ({}, "text/csv; charset=ISO-8859-1"),
        ({"encoding": "latin-1"}, 'text/csv; charset="iso-8859-1"'),
    ],
)
async def test_upload_in_another_encoding_with_error_samples(
    api: Api, params: dict[str, str], content_type: str
) -> None:
    got = await api.client.post(
        "/imports", content=LATIN1, params=params, headers={"content-type": content_type}
    )
    assert got.status_code == 202, got.text
    job = await _finished(api.client, got.json())
    assert job["status"] == "finished", job
    assert (job["inserted"], job["errors"]) == (1, 2)
    assert (await api.store.get_subscriber("zoe@example.com")).name == "Zoë Ærø"
    samples = job["error_samples"]
    assert [s["line"] for s in samples] == [3, 4], samples
    assert "not-an-address" in samples[0]["raw"] and samples[0]["error"]


async def test_error_samples_are_the_first_ten_with_their_lines(api: Api) -> None:
    body = b"email\n" + b"".join(b"bad-%d\n" % i for i in range(15)) + b"ok@example.com\n"
    job = await _finished(api.client, (await _upload(api.client, body)).json())
    assert (job["errors"], job["inserted"]) == (15, 1)
    assert [s["line"] for s in job["error_samples"]] == list(range(2, 12))


async def test_a_wrong_encoding_is_refused_before_anything_is_read(api: Api) -> None:
    for params, ctype, field in (
        ({"encoding": "klingon"}, "text/csv", "query.encoding"),
        ({"encoding": "base64"}, "text/csv", "query.encoding"),
        ({"encoding": "utf-8\x00"}, "text/csv", "query.encoding"),
        ({}, "text/csv; charset=klingon", "Content-Type"),
        ({"encoding": "latin-1"}, "text/csv; charset=utf-8", "query.encoding"),
    ):
        got = await api.client.post(
            "/imports", content=LATIN1, params=params, headers={"content-type": ctype}
        )
        assert got.status_code == 422, (params, ctype, got.text)
        assert field in [e["field"] for e in got.json()["errors"]], got.text
    assert await api.store.count_subscribers(None) == 0
