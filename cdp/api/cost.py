"""Query cost limit: refuse operations whose estimated work is too large, before any resolver runs.

Two checks, split by what they need:

* `PageSizeRule`, a graphql-core validation rule, refuses `first` literals outside 1..MAX_PAGE. It depends on
  the document only, so its verdict is safe to keep in the ValidationCache.
* `QueryCostLimiter`, a schema extension, adds that rule to every operation and, in `on_execute` (after
  validation passed, before execution), estimates the operation's cost with the request's variables and
  refuses it over MAX_COST. The cost cannot be a validation rule: graphql-core gives rules no variables,
  and a cached verdict for `first: $n` would hold for every later value of `$n`.

Cost formula, per field:  cost(field) = 1 + multiplier * cost(sub-selection), where the multiplier is the
field's `first` (the literal, the variable's coerced value, the argument's default when absent, or MAX_PAGE
when it cannot be known) for fields that take `first`, else 1. Fragments and inline fragments count as
their selections; nested pages multiply. Walking the AST costs microseconds, so no cache is needed.

MAX_COST = 5000 ≈ resolver calls per request: a full page of 100 customers with ~45 fields each, or 100
customers with 10 events each, passes; 100 customers x 100 events (~20,000) does not.

Add `QueryCostLimiter` (the class, not an instance) to the schema's extensions once: strawberry builds a
fresh extension per request, while the rule class it adds is this module's constant, so the validation
cache key (schema, document, rule classes) stays the same across requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from strawberry.extensions import SchemaExtension

from cdp.api.types import MAX_PAGE
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_operation_ast,
    get_variable_values,
)

MAX_COST = 5_000
PAGE_ARGUMENT = "first"


def page_size_error(owner: str, field: str, first: int | None, node: FieldNode) -> GraphQLError | None:
    """`first` must be an integer in 1..MAX_PAGE; null (sent, not left out) is refused too."""
    if first is not None and 1 <= first <= MAX_PAGE:
        return None
    got = "null" if first is None else first
    return GraphQLError(
        f"`first` on {owner}.{field} must be between 1 and {MAX_PAGE}, got {got} (page on with `after`)", node
    )


def _page_argument(node: FieldNode) -> Any:
    return next((a.value for a in node.arguments or () if a.name.value == PAGE_ARGUMENT), None)


class PageSizeRule(ValidationRule):
    """Refuses `first` literals outside 1..MAX_PAGE; variables are checked by QueryCostLimiter."""

    def enter_field(self, node: FieldNode, *_args: object) -> None:
        definition, parent = self.context.get_field_def(), self.context.get_parent_type()
        if definition is None or parent is None or PAGE_ARGUMENT not in definition.args:
            return
        value = _page_argument(node)
        if isinstance(value, IntValueNode):  # a null literal is refused by graphql-core's own rules
            error = page_size_error(parent.name, node.name.value, int(value.value), node)
            if error is not None:
                self.report_error(error)


class _CostEstimate:
    """Walks one validated operation; raises GraphQLError when a variable makes a page size invalid."""

    def __init__(
        self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]
    ) -> None:
        self.schema, self.fragments, self.variables = schema, fragments, variables

    def selection_set(self, selection_set: SelectionSetNode | None, parent: GraphQLCompositeType) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                total += self.selection_set(selection.selection_set, self.type(condition) if condition else parent)
            elif isinstance(selection, FragmentSpreadNode):
                # Validation already refused unknown fragments and fragment cycles: this recursion ends.
                fragment = self.fragments[selection.name.value]
                total += self.selection_set(fragment.selection_set, self.type(fragment.type_condition))
        return total

    def type(self, condition: NamedTypeNode) -> GraphQLCompositeType:
        return cast(GraphQLCompositeType, self.schema.get_type(condition.name.value))

    def field(self, node: FieldNode, parent: GraphQLCompositeType) -> int:
        definition = self.schema.get_field(parent, node.name.value)  # knows __schema, __type, __typename too
        if definition is None:  # a union's fields come through fragments; validation refused anything else
            return 1
        child = cast(GraphQLCompositeType, get_named_type(definition.type))
        multiplier = self.first(node, definition, parent.name) if PAGE_ARGUMENT in definition.args else 1
        return 1 + multiplier * self.selection_set(node.selection_set, child)

    def first(self, node: FieldNode, definition: GraphQLField, owner: str) -> int:
        value = _page_argument(node)
        if isinstance(value, VariableNode) and value.name.value in self.variables:
            first = self.variables[value.name.value]  # sent as null: refused below
        elif isinstance(value, IntValueNode):
            first = int(value.value)
        elif value is None or isinstance(value, VariableNode):  # absent, or a variable left unset: the default
            first = definition.args[PAGE_ARGUMENT].default_value
            if not isinstance(first, int):
                return MAX_PAGE  # no default: the resolver's own; assume the largest page
        else:
            first = None  # a null literal (validation refused it already)
        error = page_size_error(owner, node.name.value, first, node)
        if error is not None:
            raise error
        return first


def operation_cost(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any]
) -> int:
    """Estimated cost of one validated operation, given coerced variable values (formula: module docstring)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = cast(GraphQLObjectType, schema.get_root_type(operation.operation))
    return _CostEstimate(schema, fragments, variables).selection_set(operation.selection_set, root)


class QueryCostLimiter(SchemaExtension):
    """Adds PageSizeRule to validation and refuses operations costing more than MAX_COST before execution."""

    max_cost = MAX_COST

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, PageSizeRule)
        yield

    def on_execute(self) -> Iterator[None]:
        error = self._refusal()
        if error is not None:
            # A result set before execution makes strawberry skip execution and return it.
            self.execution_context.result = ExecutionResult(data=None, errors=[error])
        yield

    def _refusal(self) -> GraphQLError | None:
        context = self.execution_context
        document, schema = context.graphql_document, context.schema._schema
        operation = get_operation_ast(document, context.operation_name) if document else None
        if document is None or operation is None:
            return None
        coerced = get_variable_values(schema, operation.variable_definitions or (), context.variables or {})
        # Bad variables are reported by execution itself; estimate with unknown values meanwhile.
        variables = {} if isinstance(coerced, list) else coerced.coerced
        try:
            cost = operation_cost(schema, document, operation, variables)
        except GraphQLError as error:
            return error
        if cost > self.max_cost:
            return GraphQLError(
                f"query cost {cost} exceeds the limit of {self.max_cost} (lower `first` or select fewer fields)"
            )
        return None
