"""The OpenAPI 3.1 document of the admin API, built from the endpoint table and its models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from campaignd.api.endpoints import MAX_ID, PREFIX, Endpoint, adapter
from campaignd.api.problems import MEDIA_TYPE

REF = "#/components/schemas/{model}"

PROBLEM: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names the fields that were wrong.",
    "required": ["type", "title", "status", "detail", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

_WHY = {
    401: "No token, or one that is unknown or revoked",
    403: "A read-only token cannot write",
    404: "No such resource",
    409: "Conflicts with what exists, or a state change that is not allowed",
    413: "The request body is too large ([api] max_body_size)",
    415: "The body is not JSON",
    422: "Invalid input: `errors` names the fields",
    502: "The messenger failed",
}


def _problems(endpoint: Endpoint) -> list[int]:
    codes = {401, 422, *endpoint.statuses}
    if endpoint.write:
        codes.add(403)
    if endpoint.body is not None or endpoint.upload:
        codes |= {413, 415}
    if endpoint.params:
        codes.add(404)
    return sorted(codes)


def _resolved(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return dict(components[ref.rsplit("/", 1)[1]])
    return schema


def _parameters(ep: Endpoint, query: dict[str, Any] | None) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        }
        for name in ep.params
    ]
    if query is not None:
        required = set(query.get("required", []))
        params += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in query.get("properties", {}).items()
        ]
    if ep.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "A retried create with the same key and body gets the "
                "first answer; with another body 422.",
            }
        )
    return params


def _operation(
    ep: Endpoint, key: int, schemas: dict[Any, Any], components: dict[str, Any]
) -> dict[str, Any]:
    query = schemas.get(((key, "query"), "validation"))
    ok = {"application/json": {"schema": schemas[((key, "response"), "serialization")]}}
    codes = [200, 201] if ep.operation_id == "create_subscriber" else [ep.status]
    responses: dict[str, Any] = {
        str(code): {"description": ep.summary, "content": ok} for code in codes
    }
    for code in _problems(ep):
        responses[str(code)] = {
            "description": _WHY[code],
            "content": {MEDIA_TYPE: {"schema": {"$ref": REF.format(model="Problem")}}},
        }
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "tags": [ep.tag],
        "parameters": _parameters(ep, None if query is None else _resolved(query, components)),
        "responses": responses,
    }
    if ep.upload:
        op["requestBody"] = {
            "required": True,
            "content": {ep.upload: {"schema": {"type": "string"}}},
        }
    if ep.body is not None:
        body = schemas[((key, "body"), "validation")]
        op["requestBody"] = {
            "required": bool(_resolved(body, components).get("required")),
            "content": {"application/json": {"schema": body}},
        }
    return op


def document(endpoints: Sequence[Endpoint], version: str) -> dict[str, Any]:
    """The whole document; every schema is a component referenced by name."""
    inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = []
    for i, ep in enumerate(endpoints):
        inputs.append(((i, "response"), "serialization", adapter(ep.response)))
        if ep.body is not None:
            inputs.append(((i, "body"), "validation", adapter(ep.body)))
        if ep.query is not None:
            inputs.append(((i, "query"), "validation", adapter(ep.query)))
    schemas, defs = TypeAdapter.json_schemas(inputs, ref_template=REF)
    components = {**defs.get("$defs", {}), "Problem": PROBLEM}
    paths: dict[str, dict[str, Any]] = {}
    for i, ep in enumerate(endpoints):
        paths.setdefault(PREFIX + ep.path, {})[ep.method.lower()] = _operation(
            ep, i, dict(schemas), components
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "campaignd admin API",
            "version": version,
            "description": "Lists, subscribers, templates, campaigns and messengers; "
            "see docs/api.md. Every operation needs `Authorization: Bearer TOKEN`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `campaignd api-tokens create NAME`.",
                }
            },
        },
    }
