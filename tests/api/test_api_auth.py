"""Admin API authentication: bearer tokens, 401 with a challenge, 403 for read-only writes,
every write logged with the token's name and never the token."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import Api


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer cdk_not-a-token", "Bearer wrong"],
)
async def test_missing_or_bad_token_is_401_with_a_challenge(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    api.client.headers.pop("Authorization")
    got = await api.client.get("/lists", headers=headers)
    assert got.status_code == 401
    assert got.headers["content-type"] == "application/problem+json"
    assert got.headers["www-authenticate"].startswith('Bearer realm="campaignd"')
    assert (',error="invalid_token"' in got.headers["www-authenticate"].replace(" ", "")) == (
        header is not None
    )
    problem = got.json()
    assert problem["status"] == 401 and problem["title"] == "Unauthorized"


async def test_no_write_happens_without_a_valid_token(api: Api) -> None:
    got = await api.client.post(
        "/lists", json={"name": "news"}, headers={"Authorization": "Bearer cdk_x"}
    )
    assert got.status_code == 401
    assert await api.store.lists() == []


async def test_read_only_token_reads_but_cannot_write(api: Api) -> None:
    assert (await api.client.get("/lists", headers=api.auth(api.reader))).status_code == 200
    got = await api.client.post("/lists", json={"name": "news"}, headers=api.auth(api.reader))
    assert got.status_code == 403
    assert "read-only" in got.json()["detail"]
    assert await api.store.lists() == []


async def test_revoked_token_is_refused(api: Api) -> None:
    await api.store.revoke_api_token("shop")
    assert (await api.client.get("/lists")).status_code == 401


async def test_writes_are_logged_with_the_token_name_never_the_token(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="campaignd.api"):
        assert (await api.client.post("/lists", json={"name": "news"})).status_code == 201
        assert (await api.client.get("/lists")).status_code == 200
    writes = [r for r in caplog.records if getattr(r, "action", "") == "api.write"]
    assert len(writes) == 1
    assert writes[0].token == "shop"  # type: ignore[attr-defined]
    assert "POST /api/v1/lists by API token shop: 201" in writes[0].getMessage()
    assert api.writer not in caplog.text


async def test_openapi_document_is_served_without_a_token(api: Api) -> None:
    api.client.headers.pop("Authorization")
    got = await api.client.get("/openapi.json")
    assert got.status_code == 200 and got.json()["openapi"] == "3.1.0"
