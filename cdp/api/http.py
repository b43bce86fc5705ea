"""GraphQL over HTTP (the GraphQL-over-HTTP specification): the request's media types and parameters, and the
response's status and media type.

* Requests are POST with `Content-Type: application/json` (charset utf-8 or none); anything else is 415.
* The response is `application/graphql-response+json` when the client accepts it, else `application/json`
  (also for `*/*` or no Accept header); a client accepting neither gets 406.
* A request error (the document does not parse or validate, the operation cannot be chosen, the variables do
  not coerce, the request is refused before execution) has no `data` entry: 400 under
  application/graphql-response+json, 200 under application/json, as the specification says. Errors while
  executing keep `data` and answer 200.
* The body is read up to MAX_BODY_BYTES and its JSON nesting is measured before it is parsed (a deeply nested
  body would otherwise exhaust the parser's recursion).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
MAX_BODY_BYTES = 1_000_000
MAX_JSON_DEPTH = 32
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # "unrolled": one step per run of plain chars
_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class HTTPError(Exception):
    """A request refused at the transport level: status and a message for the caller."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def response(self, media_type: str = JSON) -> JSONResponse:
        return error_response(self.status, self.message, media_type, code=self.code)


def error_response(status: int, message: str, media_type: str = JSON, *, code: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"message": message}
    if code:
        error["extensions"] = {"code": code}
    return JSONResponse({"errors": [error]}, status_code=status, media_type=media_type)


def response_media_type(accept: str | None) -> str:
    """The media type to answer with; HTTPError 406 when the client accepts none that GraphQL uses."""
    if not accept or not accept.strip():
        return JSON
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        chosen = (
            GRAPHQL_RESPONSE if media == GRAPHQL_RESPONSE else JSON if media in (JSON, "*/*", "application/*") else None
        )
        if chosen and quality > 0:
            ranked.append((-quality, position, chosen))
    if not ranked:
        raise HTTPError(406, f"Accept must include {GRAPHQL_RESPONSE} or {JSON}")
    return min(ranked)[2]


def check_content_type(value: str | None) -> None:
    media, *params = (part.strip() for part in (value or "").split(";"))
    if media.lower() != JSON:
        raise HTTPError(415, "Content-Type must be application/json")
    for param in params:
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise HTTPError(415, "Content-Type charset must be utf-8")


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def json_too_deep(body: bytes) -> bool:
    """True when arrays and objects nest deeper than MAX_JSON_DEPTH, decided without parsing: strings are
    dropped (they cannot hide brackets), then the running depth stops at the first bracket past the limit."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    brackets = _STRING.sub(b"", body).translate(None, _BRACKETS)
    return any(depth > MAX_JSON_DEPTH for depth in accumulate(_STEP[b] for b in brackets))


@dataclass(frozen=True)
class GraphQLParams:
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None
    document_id: str | None  # `documentId`, or the persisted-query hash Apollo and Relay clients send


def parse_params(body: bytes) -> GraphQLParams:
    if json_too_deep(body):
        raise HTTPError(400, f"request body nests JSON deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPError(400, "request body is not valid JSON") from None
    if isinstance(data, list):
        raise HTTPError(400, "batched requests are not supported: send one operation per request")
    if not isinstance(data, dict):
        raise HTTPError(400, "request body must be a JSON object with `query` and optional `variables`")
    for name, kind, label in (
        ("query", str, "a string"),
        ("operationName", str, "a string"),
        ("documentId", str, "a string"),
        ("variables", dict, "an object"),
        ("extensions", dict, "an object"),
    ):
        if data.get(name) is not None and not isinstance(data[name], kind):
            raise HTTPError(400, f"`{name}` must be {label} or null")
    extensions = data.get("extensions")
    document_id = data.get("documentId")
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is not None:
        if not isinstance(persisted, dict) or not isinstance(persisted.get("sha256Hash"), str):
            raise HTTPError(400, "`extensions.persistedQuery.sha256Hash` must be a string")
        document_id = document_id or persisted["sha256Hash"]
    return GraphQLParams(data.get("query"), data.get("variables"), data.get("operationName"), extensions, document_id)


def graphql_response(
    payload: dict[str, Any], *, request_error: bool, media_type: str, status: int | None = None
) -> JSONResponse:
    """A request error carries no `data`; its status depends on the media type (module docstring)."""
    if status is None:
        status = 400 if request_error and media_type == GRAPHQL_RESPONSE else 200
    return JSONResponse(payload, status_code=status, media_type=media_type)
