"""Which errors the caller reads, which are masked, and how a masked one is found again in the server log.

Refusals and bad input are answers written for the caller. Anything else is an incident: the caller gets
"Unexpected error." with an error id, and the server log gets the same id with the traceback (never the
query text or variables, which may carry personal data).
"""

from __future__ import annotations

import logging
import re
import uuid

from graphql import GraphQLError
from policies.errors import AccessDenied

logger = logging.getLogger("cdp.api.errors")

UNEXPECTED = "Unexpected error."
# Errors whose messages are written for the caller (graphql-core's own, such as variable coercion, wrap a
# GraphQLError); anything else is masked.
_READABLE = (AccessDenied, ValueError, LookupError, PermissionError, GraphQLError)
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?$")


def readable(error: GraphQLError) -> bool:
    return error.original_error is None or isinstance(error.original_error, _READABLE)


# graphql-core's coercion messages quote the value they refused (variables, literals): keep the rule, drop it.
_VALUE_ECHOES = (
    (re.compile(r"(cannot represent [\w -]*?value)\s*:\s.*$", re.DOTALL), r"\1."),
    (re.compile(r"Value cannot represent an? (\w+):.*$", re.DOTALL), r"the value is not a valid \1."),
    (re.compile(r"Value .+? does not exist in ('\w+' enum)\.", re.DOTALL), r"the value does not exist in \1."),
)


def without_values(message: str) -> str:
    """The message with the refused input value removed (it may be personal data); the field and rule stay."""
    for pattern, replacement in _VALUE_ECHOES:
        message = pattern.sub(replacement, message)
    return message


def without_suggestions(message: str) -> str:
    """Production hides "Did you mean 'email'?": suggestions map the schema for whoever probes it."""
    return _SUGGESTION.sub("", message)


def mask(error: GraphQLError) -> GraphQLError:
    """Log the unexpected error under a fresh id and return what the caller sees instead."""
    error_id = uuid.uuid4().hex
    original = error.original_error
    logger.error(
        "unexpected error %s at %s: %s",
        error_id,
        ".".join(str(p) for p in error.path or ()) or "request",
        type(original).__name__ if original else "GraphQLError",
        exc_info=(type(original), original, original.__traceback__) if original else None,
    )
    return GraphQLError(
        UNEXPECTED,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
    )
