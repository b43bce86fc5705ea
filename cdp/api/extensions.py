"""Schema extensions: the gate's pre-execution field check and the response's redaction report."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql.execution.values import get_variable_values
from graphql.utilities import value_from_ast
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from cdp.access.audit import audit_and_commit
from cdp.api.context import RequestContext
from cdp.categories import event_category, static_field_categories
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    visit,
)
from policies.errors import AccessDenied

logger = logging.getLogger(__name__)
# (document text, operation name) -> the (field path, category) pairs it selects, for documents whose answer
# does not depend on variables (no `Profile.events(types:)`): the same lookup is not walked again per request.
_SELECTED: dict[tuple[str, str | None], list[tuple[str, str]]] = {}
_SELECTED_MAX = 256


class _SelectedCategories(Visitor):
    """Collects (field path, category) for every selected personal field, through fragments too."""

    def __init__(self, type_info: TypeInfo, variables: dict) -> None:
        super().__init__()
        self.type_info, self.variables = type_info, variables
        self.found: list[tuple[str, str]] = []
        self.by_variables = False  # the categories found depend on the variables' values

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        parent = self.type_info.get_parent_type()
        if parent is None:
            return
        name = get_named_type(parent).name
        category = static_field_categories().get((name, node.name.value))
        if category:
            self.found.append((f"{name}.{node.name.value}", category))
        if (name, node.name.value) == ("Profile", "events"):
            self._event_types(node)

    def _event_types(self, node: FieldNode) -> None:
        self.by_variables = True
        definition = self.type_info.get_field_def()
        for argument in node.arguments or ():
            if argument.name.value != "types" or definition is None:
                continue
            value = value_from_ast(argument.value, definition.args["types"].type, self.variables) or []
            self.found.extend((f"Profile.events(types: {t})", event_category(t)) for t in value)


def _executed_part(document: DocumentNode | None, operation_name: str | None) -> DocumentNode | None:
    """The operation that runs and every fragment: a document may carry other operations that do not."""
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [d for d in operations if d.name and d.name.value == operation_name]
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    return DocumentNode(definitions=(*operations[:1], *fragments))


def _coerced_variables(schema: GraphQLSchema, document: DocumentNode, context: ExecutionContext) -> dict[str, Any]:
    """The variables as execution will see them — defaults filled in and coerced — so a defaulted `$types` or a
    list built from variables (`[$t]`) is checked like a literal. Variables that do not coerce fail execution
    anyway; the resolvers' own checks are the backstop."""
    operation = next((d for d in document.definitions if isinstance(d, OperationDefinitionNode)), None)
    if operation is None:
        return {}
    result = get_variable_values(schema, operation.variable_definitions or (), context.variables or {})
    if isinstance(result, list):  # coercion errors
        return {}
    # graphql-core 3.3 wraps the values with their sources (a named tuple); 3.2 returns them as a dict
    return dict(result.coerced if isinstance(result, tuple) else result)


class AccessGateExtension(SchemaExtension):
    """Fails the whole request before execution when a selected field's category is not granted (fail
    closed); afterwards audits what was returned (or refused) and reports per-subject redactions in
    `extensions.redactions`. A read whose audit entry cannot be written returns no data."""

    def on_execute(self) -> Iterator[None]:
        ctx: RequestContext = self.execution_context.context
        selected = self._selected()
        try:
            for field_path, category in selected:
                ctx.access.require(category, field=field_path)
        except AccessDenied as denied:
            self._refuse(ctx, denied)
            yield
            return
        yield
        self._audit_result(ctx)

    def _selected(self) -> list[tuple[str, str]]:
        """(field path, category) of every personal field the executed operation selects."""
        context = self.execution_context
        key = (context.query or "", context.operation_name)
        if key in _SELECTED:
            return _SELECTED[key]
        document = _executed_part(context.graphql_document, context.operation_name)
        if document is None:
            return []
        schema = context.schema._schema
        type_info = TypeInfo(schema)
        collector = _SelectedCategories(type_info, _coerced_variables(schema, document, context))
        visit(document, TypeInfoVisitor(type_info, collector))
        if not collector.by_variables and context.query:
            if len(_SELECTED) >= _SELECTED_MAX:
                _SELECTED.clear()
            _SELECTED[key] = collector.found
        return collector.found

    def _audit(self, ctx: RequestContext, **entry: object) -> bool:
        """Commit the request's audit entry in the request's own session, before the response exists: a query's
        entry in the transaction that read the data (one commit, one connection). A mutation's resolvers commit
        what they did (`ctx.commit()`); whatever a failed one left uncommitted is rolled back first, never
        committed with the entry. False (logged) when the entry could not be committed."""
        operation = f"graphql:{self.execution_context.operation_name or 'anonymous'}"
        try:
            if self.execution_context.operation_type is not OperationType.QUERY:
                ctx.session.rollback()
            document = self.execution_context.query or ""
            audit_and_commit(ctx.session, ctx.access, operation=operation, document=document, **entry)
        except Exception:  # noqa: BLE001 - whatever broke, the caller decides what to withhold
            logger.exception("audit entry could not be written")
            return False
        return True

    def _refuse(self, ctx: RequestContext, denied: AccessDenied) -> None:
        self.execution_context.result = ExecutionResult(data=None, errors=[GraphQLError(str(denied))])
        self._audit(ctx, outcome="denied", categories=[denied.category], detail=str(denied))

    def _audit_result(self, ctx: RequestContext) -> None:
        result = self.execution_context.result
        errors = (result.errors if result is not None else None) or []
        denials = [e for e in errors if isinstance(e.original_error, AccessDenied)]
        if not ctx.access.subjects and not denials:
            return
        written = self._audit(
            ctx,
            outcome="denied" if denials and not ctx.access.subjects else "allowed",
            subject_ids=sorted(ctx.access.subjects),
            categories=sorted(ctx.access.categories),
            detail="; ".join(str(d.original_error) for d in denials),
        )
        if not written and result is not None:  # no audit entry, no data (strawberry returns this very object)
            result.data = None
            result.errors = [GraphQLError("the audit log could not be written, so no data is returned")]

    def get_results(self) -> dict[str, object]:
        ctx: RequestContext = self.execution_context.context
        if not ctx.access.redactions:
            return {}
        return {
            "redactions": [
                {"path": r.path, "subjectId": r.subject_id, "reason": r.reason} for r in ctx.access.redactions
            ]
        }
