"""The ASGI application: Starlette in front, strawberry's schema behind, GraphQL over HTTP in between.

A request is refused before GraphQL sees it when it is not POST JSON, too large or too deeply nested,
unauthenticated, or declares no known purpose: 4xx with a JSON error that says what is wrong. Then the
document is resolved (sent as text, or as the hash of a trusted document), its shape bounded, its operation
chosen, and it runs; the response follows the GraphQL-over-HTTP specification (cdp/api/http.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import strawberry
from anyio import CapacityLimiter
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from cdp.access import checkpoints
from cdp.access.gate import AccessContext, policy_gate
from cdp.api.access_log import AccessLog, note
from cdp.api.context import RequestContext
from cdp.api.cost import QueryCostLimiter
from cdp.api.dsr import archive_route
from cdp.api.errors import mask, readable, without_suggestions, without_values
from cdp.api.extensions import AccessGateExtension
from cdp.api.guard import MAX_TOKENS, DocumentShape, inspect_document
from cdp.api.http import (
    GraphQLParams,
    HTTPError,
    check_content_type,
    graphql_response,
    parse_params,
    read_body,
    response_media_type,
)
from cdp.api.ide import STATIC_DIR, ide_page
from cdp.api.schema import Mutation, Query
from cdp.api.settings import ApiSettings, get_api_settings
from cdp.api.trusted import TrustedDocument, digest, trusted_documents
from cdp.auth.service import AuthError, authenticate
from cdp.connectors.routes import connector_routes
from cdp.store import Store
from cdp.web.app import web_routes
from cdp.webhooks.shopify import shopify_endpoint
from graphql import GraphQLError
from policies.errors import UnknownPurpose, UnknownRole

PURPOSE_HEADER = "x-cdp-purpose"
MAX_DEPTH = 10
MAX_ALIASES = 15
# Software acting for customers: in trusted-documents-only mode they run only the manifest's documents.
APP_ROLES = frozenset({"frontend_app", "marketing_tool"})
_ALLOWED = frozenset({OperationType.QUERY, OperationType.MUTATION})

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
        """Nothing here: refusals are answers, and unexpected errors are logged where they get their id."""


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
        AccessGateExtension,
    ]
    if production:
        extensions.append(DisableIntrospection)
    return CdpSchema(
        query=Query, mutation=Mutation, extensions=extensions, config=StrawberryConfig(auto_camel_case=True)
    )


class RequestError(Exception):
    """A GraphQL request error raised before execution: no `data`, status by media type."""

    def __init__(self, error: GraphQLError | str, code: str | None = None) -> None:
        self.error = (
            error
            if isinstance(error, GraphQLError)
            else GraphQLError(error, extensions={"code": code} if code else None)
        )
        super().__init__(self.error.message)


class GraphQLEndpoint:
    """Checks transport, size, credentials and purpose, resolves the document, runs it in a fresh session."""

    def __init__(self, store: Store, *, production: bool, settings: ApiSettings) -> None:
        self.store = store
        self.production = production
        self.ide = not production
        self.schema = build_schema(production=production)
        self.trusted = trusted_documents(settings.trusted_manifest)
        self.trusted_only = settings.trusted_documents_only
        self.threads = settings.request_threads
        self._limiter: CapacityLimiter | None = None  # made on the event loop, at the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and self.ide and "text/html" in request.headers.get("accept", ""):
            await ide_page()(scope, receive, send)
            return
        try:
            if request.method != "POST":
                raise HTTPError(405, "GraphQL operations must be sent as POST with a JSON body")
            media_type = response_media_type(request.headers.get("accept"))
        except HTTPError as refused:
            await refused.response()(scope, receive, send)
            return
        response = await self._respond(request, media_type)
        await response(scope, receive, send)

    async def _respond(self, request: Request, media_type: str) -> Response:
        try:
            check_content_type(request.headers.get("content-type"))
            params = parse_params(await read_body(request))
        except HTTPError as refused:
            return refused.response(media_type)
        # Database, crypto and resolvers never run on the event loop: one slow request must not stall the
        # others (or /healthz). Each request is worked in a thread, in one hop, with a session of its own; at most
        # `request_threads` at once, the rest queue (first come, first served).
        if self._limiter is None:
            self._limiter = CapacityLimiter(self.threads)
        return await anyio.to_thread.run_sync(self._work, request, params, media_type, limiter=self._limiter)

    def _work(self, request: Request, params: GraphQLParams, media_type: str) -> Response:
        """Runs in a worker thread: the key is checked, the document resolved and run in one session, so a
        read, its audit entry and the key lookup share one connection and one transaction."""
        with self.store.session() as session:
            try:
                access = self._admit(session, request)
                note(request, role=access.principal.role, purpose=access.purpose)
                query, operation_name = self._document(params, access)
                note(request, operation=operation_name)  # a name the document defines, never a sent value
                gpc = request.headers.get("sec-gpc", "").strip() == "1"
                return self._execute(session, query, params.variables, operation_name, access, gpc, media_type)
            except HTTPError as refused:
                return refused.response(media_type)
            except RequestError as failed:
                errors = [self._format(failed.error)]
                return graphql_response({"errors": errors}, request_error=True, media_type=media_type)

    def _admit(self, session: Session, request: Request) -> AccessContext:
        try:
            principal = authenticate(session, request.headers.get("authorization"))
        except AuthError as exc:
            raise HTTPError(401, str(exc)) from None
        if session.dirty:  # the key's last-used time, at most once a minute: committed whatever comes next, and
            session.commit()  # at once (an open write would hold SQLite's write lock while the request runs)
        purpose = request.headers.get(PURPOSE_HEADER, "").strip()
        if not purpose:
            raise HTTPError(
                400,
                "missing X-CDP-Purpose header: declare why you process this data, one of "
                + ", ".join(sorted(policy_gate().purposes.names())),
            )
        try:
            return AccessContext.for_principal(principal, purpose)
        except UnknownPurpose as exc:
            raise HTTPError(400, f"X-CDP-Purpose: {exc}") from None
        except UnknownRole as exc:
            raise HTTPError(403, str(exc)) from None

    def _document(self, params: GraphQLParams, access: AccessContext) -> tuple[str, str | None]:
        """The text to run and the operation's name; refuses what this caller may not send."""
        trusted: TrustedDocument | None = None
        query = params.query
        if params.document_id is not None:
            trusted = self.trusted.get(params.document_id)
            if query is None:
                if trusted is None:  # the answer Apollo's persisted-query link retries with the text on
                    raise RequestError("PersistedQueryNotFound", code="PERSISTED_QUERY_NOT_FOUND")
                query = trusted.body
            elif digest(query) != params.document_id.removeprefix("sha256:").lower():
                raise HTTPError(400, "the query's sha256 is not the sha256Hash/documentId sent with it")
        if query is None:
            raise HTTPError(400, "no `query`: send a GraphQL document, or a trusted document's `documentId`")
        try:
            shape = inspect_document(query)
        except GraphQLError as error:
            raise RequestError(error) from None
        operation_name = self._choose_operation(shape, params.operation_name)
        if self.trusted_only and access.principal.role in APP_ROLES and (trusted or self.trusted.match(query)) is None:
            raise HTTPError(
                403,
                f"role {access.principal.role} may run only trusted documents (graphql/operations): send "
                "`documentId` or `extensions.persistedQuery.sha256Hash` of one listed in the manifest",
                code="TRUSTED_DOCUMENT_REQUIRED",
            )
        return query, operation_name

    @staticmethod
    def _choose_operation(shape: DocumentShape, requested: str | None) -> str | None:
        names = shape.operations
        if not shape.balanced:
            return requested  # the parser will name the syntax error
        listed = ", ".join(n or "(anonymous)" for n in names)
        if requested is not None and requested not in names:
            raise RequestError(f"operationName names no operation of the document (it has: {listed})")
        if requested is None and len(names) > 1:
            raise RequestError(f"the document has {len(names)} operations ({listed}): name one in operationName")
        return requested if requested is not None else (names[0] if names else None)

    def _execute(
        self,
        session: Session,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        access: AccessContext,
        gpc: bool,
        media_type: str,
    ) -> Response:
        """Resolvers are synchronous and own nothing of the event loop."""
        context = RequestContext(self.store, session, access, gpc=gpc)
        try:
            result = self.schema.execute_sync(
                query,
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=_ALLOWED,
            )
        except InvalidOperationTypeError:
            raise RequestError("subscriptions are not served over HTTP POST; send a query or a mutation") from None
        except CannotGetOperationTypeError:
            raise RequestError("the document defines no operation to run") from None
        errors = [self._format(e) for e in result.errors or []]
        request_error = result.data is None and bool(errors) and all(e.path is None for e in result.errors or [])
        payload: dict[str, Any] = {} if request_error else {"data": result.data}
        if errors:
            payload["errors"] = errors
        if result.extensions:
            payload["extensions"] = result.extensions
        masked = any("errorId" in (e.get("extensions") or {}) for e in errors)
        status = 500 if request_error and masked else None
        return graphql_response(payload, request_error=request_error, media_type=media_type, status=status)

    def _format(self, error: GraphQLError) -> dict[str, Any]:
        shown = error if readable(error) else mask(error)
        formatted = dict(shown.formatted)
        message = without_values(str(formatted["message"]))
        formatted["message"] = without_suggestions(message) if self.production else message
        return formatted


def create_app(store: Store, settings: ApiSettings | None = None) -> Starlette:
    settings = settings or get_api_settings()
    endpoint = GraphQLEndpoint(store, production=store.settings.production, settings=settings)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes: list[BaseRoute] = [
        Route("/graphql", endpoint),  # every method: the endpoint answers 405 itself, as JSON
        Route("/healthz", health),
        archive_route(store, endpoint._admit),  # DSR archives, by the ticket executeDsrRequest returns
        Route("/webhooks/shopify", shopify_endpoint(store), methods=["POST"]),
        *web_routes(store),  # the privacy centre and the compliance console
        *connector_routes(store),  # shop webhooks and the Segment-spec intake
    ]
    if endpoint.ide:
        routes.append(Mount("/static", StaticFiles(directory=Path(STATIC_DIR)), name="static"))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(checkpoints.flush, store)  # shutdown: the audit checkpoint deferred by spacing

    return Starlette(routes=routes, middleware=[AccessLog.middleware()], lifespan=lifespan)


def app_from_environment() -> Starlette:
    """The app for one server process of `cdp serve --workers N`: its store from the environment's settings."""
    return create_app(Store.open())
