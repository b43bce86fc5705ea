"""The trusted-document layout is enforced with errors that name the file and the rule, and
`cdp operations manifest` writes exactly the committed manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cdp.api.trusted import DocumentError, TrustedDocuments, canonical, digest, read_documents
from cdp.cli.main import app
from tests.graphql_client import OPERATIONS_DIR

HEADER = "# role: frontend_app\n# purpose: order_fulfillment\n\n"


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"frontend/A.graphql": "query A { __typename }"},
            "frontend/A.graphql: the first lines must declare # role: ...",
        ),
        ({"frontend/A.graphql": "# role: x\nquery A { __typename }"}, "must declare # purpose: ..."),
        (
            {"frontend/A.graphql": HEADER + "query A { a } query B { b }"},
            "must hold exactly one named operation, found 2",
        ),
        ({"frontend/A.graphql": HEADER + "{ __typename }"}, "must hold exactly one named operation"),
        ({"frontend/A.graphql": HEADER + "query B { __typename }"}, "the file must be named after its operation"),
        ({"shoppers/A.graphql": HEADER + "query A { __typename }"}, "must be <user>/<OperationName>.graphql"),
        ({"A.graphql": HEADER + "query A { __typename }"}, "A.graphql: must be <user>/<OperationName>.graphql"),
        (
            {"frontend/A.graphql": HEADER + "query A { a }", "support/A.graphql": HEADER + "query A { a }"},
            "operation names must be unique across files: A",
        ),
    ],
)
def test_the_layout_is_enforced(tmp_path: Path, files: dict[str, str], message: str) -> None:
    with pytest.raises(DocumentError) as refused:
        read_documents(_folder(tmp_path, files))
    assert message in str(refused.value)


def test_the_manifest_command_writes_the_committed_manifest(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["operations", "manifest", "--output", str(tmp_path / "manifest.json")])
    assert result.exit_code == 0, result.output
    written = (tmp_path / "manifest.json").read_text()
    assert written == (OPERATIONS_DIR / "manifest.json").read_text()
    operations = json.loads(written)["operations"]
    assert len(operations) == len(list(OPERATIONS_DIR.rglob("*.graphql")))
    for operation in operations:  # an independent check of the hash: sha256 of the printed body
        assert (
            operation["id"]
            == digest(operation["body"])
            == digest(canonical((OPERATIONS_DIR / operation["file"]).read_text()))
        )


def test_text_is_trusted_whatever_its_layout(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"frontend/A.graphql": HEADER + "query A {\n  __typename\n}\n"})
    trusted = TrustedDocuments(read_documents(folder))
    assert trusted.match("# a comment\nquery A { __typename }") is not None
    assert trusted.match("query A { __typename __typename }") is None
    assert trusted.match("query A {") is None
