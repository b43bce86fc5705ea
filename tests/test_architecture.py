"""The project's shape: layering contract, the GraphQL contract folder, exported SDL without drift."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from cdp.access.gate import policy_gate
from cdp.api.app import build_schema as build_app_schema
from cdp.api.trusted import manifest_text
from graphql import build_schema, parse, validate
from tests.graphql_client import OPERATIONS_DIR, documents, operations

ROOT = Path(__file__).resolve().parent.parent


def test_layering_contract_holds() -> None:
    """audit <- consent <- policies <- cdp; inside cdp doors -> services -> access -> domain -> infra, and no
    cycle between cdp's sub-packages (import-linter contracts in pyproject.toml)."""
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


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


# The governed services: the only modules that may open personal data (key store encrypt/decrypt/shred) or
# change who is who (identity writers). Everything else reaches them through these packages' functions.
SERVICE_PACKAGES = (
    "ingest", "dsr", "retention", "consents", "profiles", "outbox", "activation", "compliance", "resolution",
    "traits", "segments",
)  # fmt: skip
KEY_STORE_CALLS = {"encrypt", "decrypt", "shred"}
IDENTITY_WRITERS = {"BatchResolver", "merge_profiles", "unmerge"}
# where the primitives themselves live
DEFINING_MODULES = {"cdp/identity/resolve.py"}
# key-store calls on what is not personal data: a destination's signing secret (a credential of ours)
NOT_PERSONAL = {"cdp/outbox/service.py seal_secret", "cdp/outbox/service.py open_secret"}


def _calls(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """(node, what it reaches) for key-store operations and identity writers, imports of a writer included
    (an alias would hide the call)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "cdp.identity.resolve":
            yield from ((node, f"import {a.name}") for a in node.names if a.name in IDENTITY_WRITERS)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in KEY_STORE_CALLS:
            owner = ast.unparse(func.value)
            if owner.split(".")[-1] == "keystore":
                yield node, f"{owner}.{func.attr}"
        if isinstance(func, ast.Name) and func.id in IDENTITY_WRITERS:
            yield node, func.id
        # through the module (`resolve.unmerge(...)`), not a governed service of the same name (`service.unmerge`)
        through_module = isinstance(func, ast.Attribute) and ast.unparse(func.value).split(".")[-1] == "resolve"
        if isinstance(func, ast.Attribute) and func.attr in IDENTITY_WRITERS and through_module:
            yield node, func.attr


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / "cdp").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith("cdp/crypto/"):
            yield relative, ast.parse(path.read_text(), filename=relative)


def _is_service(relative: str) -> bool:
    return relative.split("/")[1] in SERVICE_PACKAGES


def test_only_governed_services_open_personal_data_or_change_identities() -> None:
    """Doors, the gate and the domain never decrypt, encrypt, shred or merge: a service does, behind the gate."""
    offenders = [
        f"{relative}:{call.lineno} calls {what}"
        for relative, tree in _modules()
        if not _is_service(relative) and relative not in DEFINING_MODULES
        for call, what in _calls(tree)
    ]
    assert not offenders, offenders


def _public_functions(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    """Module-level public functions and the public methods of public classes."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            yield from (m for m in node.body if isinstance(m, ast.FunctionDef) and not m.name.startswith("_"))


def test_public_service_functions_that_open_personal_data_take_the_access_context() -> None:
    """A public function of a service that decrypts (or merges) itself must be handed the caller's AccessContext;
    private helpers are reached only through such functions."""
    missing = []
    for relative, tree in _modules():
        if not _is_service(relative):
            continue
        for node in _public_functions(tree):
            if not any(True for _ in _calls(node)):
                continue
            annotations = [ast.unparse(a.annotation) for a in (*node.args.args, *node.args.kwonlyargs) if a.annotation]
            if "AccessContext" not in annotations and f"{relative} {node.name}" not in NOT_PERSONAL:
                missing.append(f"{relative}:{node.lineno} {node.name}")
    assert not missing, missing


def test_the_architecture_checks_can_fail() -> None:
    """The checks above are not vacuous: they see the calls they are meant to forbid."""
    door = ast.parse(
        "def resolve(store, row):\n    return store.keystore.decrypt(row.profile_id, 't', 'c', row.id, b'')"
    )
    writer = ast.parse("BatchResolver(session, keystore)\nmerge_profiles(s, k, a, b, actor='x')\nresolve.unmerge(s, p)")
    governed = ast.parse("service.unmerge(session, access, profile_id, reason='r')")
    assert [what for _, what in _calls(governed)] == []
    aliased = ast.parse("from cdp.identity.resolve import unmerge as undo")
    assert [what for _, what in _calls(aliased)] == ["import unmerge"]
    assert [what for _, what in _calls(door)] == ["store.keystore.decrypt"]
    assert [what for _, what in _calls(writer)] == ["BatchResolver", "merge_profiles", "unmerge"]
    assert any(_is_service(r) for r, _ in _modules()) and not _is_service("cdp/api/types.py")


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
