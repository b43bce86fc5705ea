"""The project's shape: layering contract, the GraphQL contract folder, exported SDL without drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cdp.api.app import build_schema as build_app_schema
from graphql import build_schema, parse, validate
from tests.graphql_client import OPERATIONS_DIR, operations

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
    assert files
    for path in files:
        errors = validate(schema, parse(path.read_text()))
        assert not errors, f"{path.name}: {errors}"
    assert "CustomerByEmail" in operations()
