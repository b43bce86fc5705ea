"""The project's shape: layering contract, the GraphQL contract folder, exported SDL without drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cdp.access.gate import policy_gate
from cdp.api.app import build_schema as build_app_schema
from cdp.api.trusted import manifest_text
from graphql import build_schema, parse, validate
from tests.graphql_client import OPERATIONS_DIR, documents, operations

ROOT = Path(__file__).resolve().parent.parent


def test_layering_contract_holds() -> None:
    """audit <- consent <- policies <- cdp: never a cycle (import-linter contract in pyproject.toml)."""
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_graphql_folder_holds_no_python() -> None:
    """A top-level Python package named graphql would shadow graphql-core."""
    assert not list((ROOT / "graphql").rglob("*.py"))


def test_exported_sdl_has_not_drifted() -> None:
    committed = (ROOT / "graphql" / "schema.graphql").read_text()
    current = build_app_schema(production=False).as_str() + "\n"
    assert committed == current, "graphql/schema.graphql is stale: run `cdp schema --output graphql/schema.graphql`"


def test_every_operation_document_is_valid_against_the_schema() -> None:
    schema = build_schema((ROOT / "graphql" / "schema.graphql").read_text())
    files = sorted(OPERATIONS_DIR.rglob("*.graphql"))
    assert len(files) == len(documents()) >= 30  # read_documents refuses files outside <user>/<Name>.graphql
    for path in files:
        errors = validate(schema, parse(path.read_text()))
        assert not errors, f"{path.name}: {errors}"
    assert "CustomerByEmail" in operations()


def test_every_document_declares_a_known_role_and_purpose() -> None:
    gate = policy_gate()
    for document in documents().values():
        assert document.role in gate.roles, document.file
        assert document.purpose in gate.purposes.names(), document.file


def test_trusted_document_manifest_has_not_drifted() -> None:
    committed = (OPERATIONS_DIR / "manifest.json").read_text()
    assert committed == manifest_text(list(documents().values())), (
        "graphql/operations/manifest.json is stale: run `cdp operations manifest`"
    )
