"""Bounds on a document's shape, checked with the lexer before the (recursive) parser and validators see it.

One pass over the tokens, in constant stack: the token count, the nesting of braces, brackets and parentheses,
the chain of fragment spreads (fragment A spreads B spreads C ...), and the operations the document defines,
so that the operation to run can be chosen with a clear error before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from graphql.language import Lexer

from graphql import GraphQLError, Source, TokenKind

MAX_TOKENS = 2_000
MAX_NESTING = 40  # brackets of any kind; the field-depth limit (10) is checked later on the parsed document
MAX_FRAGMENT_CHAIN = 16
_OPEN = {TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L}
_CLOSE = {TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R}
_DEFINITION_KEYWORDS = {"query", "mutation", "subscription", "fragment"}


class DocumentRefused(GraphQLError):
    """The document is over a bound; the message names the bound."""


@dataclass
class DocumentShape:
    operations: list[str | None] = field(default_factory=list)  # names in order; None for an anonymous one
    spreads: dict[str, set[str]] = field(default_factory=dict)  # definition -> fragments it spreads
    balanced: bool = True

    def fragment_chain(self) -> int:
        """Length of the longest chain of spreads (cycles are left to validation, which names them)."""
        longest: dict[str, int] = {}
        for start in self.spreads:
            stack: list[tuple[str, bool]] = [(start, False)]
            on_path: set[str] = set()
            while stack:
                name, done = stack.pop()
                if done:
                    on_path.discard(name)
                    targets = [longest.get(t, 0) for t in self.spreads.get(name, ()) if t in self.spreads]
                    longest[name] = 1 + max(targets, default=0)
                    continue
                if name in longest or name in on_path:
                    continue
                on_path.add(name)
                stack.append((name, True))
                stack.extend((t, False) for t in self.spreads.get(name, ()) if t not in longest and t not in on_path)
        return max(longest.values(), default=0) - 1 if longest else 0


@lru_cache(maxsize=256)  # clients send the same few documents: lex each once, like the parser cache parses it
def inspect_document(text: str) -> DocumentShape:
    """Raises GraphQLError for a lexical error, DocumentRefused when a bound is exceeded (never cached). The
    shape is shared between requests sending the same text: read it, never change it."""
    lexer = Lexer(Source(text))
    shape = DocumentShape()
    depth = count = 0
    previous = TokenKind.SOF
    definition = ""
    naming: str | None = None  # "fragment" or "operation" right after the keyword that starts a definition
    token = lexer.advance()
    while token.kind != TokenKind.EOF:
        count += 1
        if count > MAX_TOKENS:
            raise DocumentRefused(f"the document has more than {MAX_TOKENS} tokens")
        kind, starts = token.kind, depth == 0 and previous in (TokenKind.SOF, TokenKind.BRACE_R)
        if kind == TokenKind.NAME and depth == 0:
            if starts and token.value in _DEFINITION_KEYWORDS:
                naming = "fragment" if token.value == "fragment" else "operation"
                if naming == "operation":
                    shape.operations.append(None)
                    definition = f"<operation {len(shape.operations)}>"
                previous = kind
                token = lexer.advance()
                continue
            if naming == "operation":
                shape.operations[-1] = definition = token.value or ""
            elif naming == "fragment":
                definition = token.value or ""
        elif kind == TokenKind.NAME and previous == TokenKind.SPREAD and token.value not in (None, "on"):
            shape.spreads.setdefault(definition, set()).add(token.value or "")
        elif kind in _OPEN:
            if starts and kind == TokenKind.BRACE_L:  # the `{ ... }` shorthand
                shape.operations.append(None)
                definition = f"<operation {len(shape.operations)}>"
            depth += 1
            if depth > MAX_NESTING:
                raise DocumentRefused(f"the document nests brackets deeper than {MAX_NESTING} levels")
        elif kind in _CLOSE:
            depth -= 1
        naming = None
        shape.spreads.setdefault(definition, set())
        previous = kind
        token = lexer.advance()
    shape.balanced = depth == 0
    chain = shape.fragment_chain()
    if chain > MAX_FRAGMENT_CHAIN:
        raise DocumentRefused(f"fragments spread each other {chain} deep; at most {MAX_FRAGMENT_CHAIN} allowed")
    return shape
