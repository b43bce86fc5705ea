"""Schema extensions: the gate's pre-execution field check and the response's redaction report."""

from __future__ import annotations

from collections.abc import Iterator

from graphql.utilities import value_from_ast
from strawberry.extensions import SchemaExtension

from cdp.api.context import RequestContext
from cdp.categories import event_category, static_field_categories
from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    visit,
)
from policies.errors import AccessDenied


class _SelectedCategories(Visitor):
    """Collects (field path, category) for every selected personal field, through fragments too."""

    def __init__(self, type_info: TypeInfo, variables: dict) -> None:
        super().__init__()
        self.type_info, self.variables = type_info, variables
        self.found: list[tuple[str, str]] = []

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
        definition = self.type_info.get_field_def()
        for argument in node.arguments or ():
            if argument.name.value != "types" or definition is None:
                continue
            value = value_from_ast(argument.value, definition.args["types"].type, self.variables) or []
            self.found.extend((f"Profile.events(types: {t})", event_category(t)) for t in value)


class AccessGateExtension(SchemaExtension):
    """Fails the whole request before execution when a selected field's category is not granted (fail
    closed), and reports per-subject redactions in `extensions.redactions` afterwards."""

    def on_execute(self) -> Iterator[None]:
        ctx: RequestContext = self.execution_context.context
        document = self.execution_context.graphql_document
        if document is not None:
            type_info = TypeInfo(self.execution_context.schema._schema)
            collector = _SelectedCategories(type_info, self.execution_context.variables or {})
            visit(document, TypeInfoVisitor(type_info, collector))
            try:
                for field_path, category in collector.found:
                    ctx.access.require(category, field=field_path)
            except AccessDenied as denied:
                self.execution_context.result = ExecutionResult(data=None, errors=[GraphQLError(str(denied))])
        yield

    def get_results(self) -> dict[str, object]:
        ctx: RequestContext = self.execution_context.context
        if not ctx.access.redactions:
            return {}
        return {
            "redactions": [
                {"path": r.path, "subjectId": r.subject_id, "reason": r.reason} for r in ctx.access.redactions
            ]
        }
