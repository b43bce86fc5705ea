"""The ASGI application: Starlette in front, strawberry behind.

Requests are refused before GraphQL sees them when they are not POST JSON, too large, unauthenticated, or
declare no known purpose: 4xx with a JSON error that says what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from cdp.access.gate import AccessContext, policy_gate
from cdp.api.context import RequestContext
from cdp.api.cost import QueryCostLimiter
from cdp.api.extensions import AccessGateExtension
from cdp.api.schema import Mutation, Query
from cdp.auth.service import AuthError, authenticate
from cdp.connectors.routes import connector_routes
from cdp.store import Store
from cdp.webhooks.shopify import shopify_endpoint
from graphql import GraphQLError
from policies.errors import AccessDenied, UnknownPurpose, UnknownRole

PURPOSE_HEADER = "x-cdp-purpose"
MAX_BODY_BYTES = 1_000_000
MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2_000
# Errors whose messages are written for the caller; anything else is masked as "Unexpected error."
_READABLE = (AccessDenied, ValueError, LookupError, PermissionError)


def _readable(error: GraphQLError) -> bool:
    return error.original_error is None or isinstance(error.original_error, _READABLE)


# Built once at import: a rule class made per request would never hit the validation cache.
_LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


class LimitRules(AddValidationRules):
    """Depth and alias limits, one fresh extension per request over the same rule classes."""

    def __init__(self) -> None:
        super().__init__(_LIMIT_RULES)


class CdpSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log only unexpected errors: refusals and bad input are answers, not incidents."""
        unexpected = [e for e in errors if not _readable(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(*, production: bool) -> strawberry.Schema:
    """Validation rules are built here, once per process: a factory per request would defeat the caches."""
    # Extensions are constructed per request (factories); their state is per request. The caches live at
    # module level, and the limit rules are the same classes every time, so validation results stay cached.
    extensions: list[Any] = [
        lambda: ParserCache(maxsize=256),
        lambda: ValidationCache(maxsize=256),
        LimitRules,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        QueryCostLimiter,
        lambda: MaskErrors(should_mask_error=lambda error: not _readable(error)),
        AccessGateExtension,
    ]
    if production:
        extensions.append(DisableIntrospection)
    return CdpSchema(
        query=Query, mutation=Mutation, extensions=extensions, config=StrawberryConfig(auto_camel_case=True)
    )


class _GraphQLView(GraphQL):
    def __init__(self, schema: strawberry.Schema, store: Store, *, ide: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if ide else None, allow_queries_via_get=False)
        self.store = store

    async def get_context(self, request: Request, response: Response) -> RequestContext | None:
        # None only for the IDE page (GET text/html), which executes nothing.
        return request.scope.get("state", {}).get("cdp_context")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)


class GraphQLEndpoint:
    """Checks transport, size, credentials and purpose, then hands over to strawberry with a fresh session."""

    def __init__(self, store: Store, *, production: bool) -> None:
        self.store = store
        self.ide = not production
        self.view = _GraphQLView(build_schema(production=production), store, ide=self.ide)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and self.ide and "text/html" in request.headers.get("accept", ""):
            await self.view(scope, receive, send)
            return
        refusal, body = await self._screen(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        session = self.store.session()
        try:
            refusal = self._admit(request, session)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
            scope.setdefault("state", {})
            scope["state"]["cdp_context"] = RequestContext(
                self.store, session, request.state.access, gpc=request.headers.get("sec-gpc", "").strip() == "1"
            )
            await self.view(scope, _replay(body), send)
        finally:
            session.close()

    async def _screen(self, request: Request) -> tuple[Response | None, bytes]:
        if request.method != "POST":
            return _error(405, "GraphQL operations must be sent as POST with a JSON body"), b""
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _error(415, "Content-Type must be application/json"), b""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes"), b""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"request body larger than {MAX_BODY_BYTES} bytes"), b""
        try:
            json.loads(body or b"null")
        except ValueError:
            return _error(400, "request body is not valid JSON"), b""
        return None, body

    def _admit(self, request: Request, session: Any) -> Response | None:
        try:
            principal = authenticate(session, request.headers.get("authorization"))
        except AuthError as exc:
            return _error(401, str(exc))
        purpose = request.headers.get(PURPOSE_HEADER, "").strip()
        gate = policy_gate()
        if not purpose:
            return _error(
                400,
                "missing X-CDP-Purpose header: declare why you process this data, one of "
                + ", ".join(sorted(gate.purposes.names())),
            )
        try:
            request.state.access = AccessContext.for_principal(principal, purpose)
        except UnknownPurpose as exc:
            return _error(400, f"X-CDP-Purpose: {exc}")
        except UnknownRole as exc:
            return _error(403, str(exc))
        return None


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def create_app(store: Store) -> Starlette:
    endpoint = GraphQLEndpoint(store, production=store.settings.production)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/graphql", endpoint, methods=["GET", "POST"]),
            Route("/healthz", health),
            Route("/webhooks/shopify", shopify_endpoint(store), methods=["POST"]),
            *connector_routes(store),
        ],
    )
