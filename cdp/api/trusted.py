"""Trusted documents: the operation files under graphql/operations and the manifest of their hashes.

Layout: graphql/operations/<user>/<OperationName>.graphql, one operation per file, whose first lines declare
`# role: <role>` and `# purpose: <purpose>`. The manifest (`cdp operations manifest`) lists each operation in
the Apollo persisted-query manifest format: its body is the document as graphql-core prints it (comments and
layout dropped, the form Apollo Client and Python gql send), and its id is the SHA-256 of that body. Clients
send the id instead of the text (`extensions.persistedQuery.sha256Hash`, or `documentId`); text is trusted
when it prints to a manifest body.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, parse, print_ast

USERS = ("frontend", "support", "marketing", "consent", "compliance", "data_subject", "operator")
MANIFEST_FORMAT = "apollo-persisted-query-manifest"
_HEADER = re.compile(r"^#\s*(role|purpose):\s*(\S+)\s*$")
_HEADER_LINES = 5  # the declarations must come first, not somewhere in the body


class DocumentError(ValueError):
    """An operation file breaks the layout; the message names the file and the rule."""


@dataclass(frozen=True)
class TrustedDocument:
    id: str  # sha256 of body, hex
    name: str
    type: str  # query | mutation
    body: str
    role: str
    purpose: str
    file: str  # relative to the operations folder


def canonical(text: str) -> str:
    """The printed form of a document: what is hashed, stored and executed."""
    return print_ast(parse(text, no_location=True))


def digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def read_document(path: Path, root: Path) -> TrustedDocument:
    relative = path.relative_to(root).as_posix()
    if path.parent.parent != root or path.parent.name not in USERS:
        raise DocumentError(f"{relative}: must be <user>/<OperationName>.graphql, <user> one of {', '.join(USERS)}")
    text = path.read_text(encoding="utf-8")
    declared = {}
    for line in text.splitlines()[:_HEADER_LINES]:
        match = _HEADER.match(line)
        if match:
            declared[match.group(1)] = match.group(2)
    missing = [k for k in ("role", "purpose") if k not in declared]
    if missing:
        raise DocumentError(f"{relative}: the first lines must declare " + " and ".join(f"# {k}: ..." for k in missing))
    try:
        document = parse(text, no_location=True)
    except GraphQLError as exc:
        raise DocumentError(f"{relative}: {exc.message}") from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].name is None:
        raise DocumentError(f"{relative}: must hold exactly one named operation, found {len(operations)}")
    [operation] = operations
    if operation.name is None or operation.name.value != path.stem:
        raise DocumentError(f"{relative}: the file must be named after its operation")
    body = print_ast(document)
    return TrustedDocument(
        id=digest(body),
        name=path.stem,
        type=operation.operation.value,
        body=body,
        role=declared["role"],
        purpose=declared["purpose"],
        file=relative,
    )


def read_documents(root: Path) -> list[TrustedDocument]:
    """Every operation file under root, sorted by operation name; refuses duplicates and stray files."""
    stray = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.graphql") if p.parent.parent != root)
    if stray:
        raise DocumentError(f"{stray[0]}: must be <user>/<OperationName>.graphql")
    documents = sorted((read_document(p, root) for p in root.glob("*/*.graphql")), key=lambda d: d.name)
    names = [d.name for d in documents]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DocumentError(f"operation names must be unique across files: {', '.join(duplicates)}")
    return documents


def manifest(documents: list[TrustedDocument]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "operations": [
            {
                "id": d.id,
                "name": d.name,
                "type": d.type,
                "body": d.body,
                "role": d.role,
                "purpose": d.purpose,
                "file": d.file,
            }
            for d in documents
        ],  # fmt: skip
    }


def manifest_text(documents: list[TrustedDocument]) -> str:
    return json.dumps(manifest(documents), indent=2, ensure_ascii=False) + "\n"


class TrustedDocuments:
    """Looks documents up by id, or by the text a client sent."""

    def __init__(self, documents: list[TrustedDocument]) -> None:
        self.by_id = {d.id: d for d in documents}
        self.by_body = {d.body: d for d in documents}

    @classmethod
    def load(cls, path: Path) -> TrustedDocuments:
        """An absent manifest trusts nothing (every app-role request is then refused in trusted-only mode)."""
        if not path.exists():
            return cls([])
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != MANIFEST_FORMAT:
            raise DocumentError(f"{path}: not an {MANIFEST_FORMAT}")
        return cls(
            [
                TrustedDocument(
                    id=o["id"],
                    name=o["name"],
                    type=o["type"],
                    body=o["body"],
                    role=o["role"],
                    purpose=o["purpose"],
                    file=o["file"],
                )
                for o in data["operations"]
            ]  # fmt: skip
        )

    def get(self, document_id: str) -> TrustedDocument | None:
        return self.by_id.get(document_id.removeprefix("sha256:").lower())

    def match(self, text: str) -> TrustedDocument | None:
        """The trusted document this text is, whatever its layout and comments; None when it is not one."""
        found = self.by_id.get(digest(text)) or self.by_body.get(text)
        if found is not None:
            return found
        try:
            return self.by_body.get(canonical(text))  # bounded: the door checked the token count first
        except GraphQLError:
            return None


@lru_cache(maxsize=4)
def trusted_documents(path: Path) -> TrustedDocuments:
    return TrustedDocuments.load(path)
