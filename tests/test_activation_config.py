"""Trigger definitions and intake sources: declarative, validated, governed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from cdp.access.gate import AccessContext, policy_gate
from cdp.activation.definitions import TRIGGERS_FILE, load_definitions
from cdp.auth.service import AuthError, Principal
from cdp.ingest.sources import authenticate_write_key, create_source
from cdp.store import Store
from policies.errors import AccessDenied, UnknownPurpose


def test_the_shipped_triggers_greet_in_seven_languages() -> None:
    triggers = load_definitions().triggers
    birthday = triggers["birthday"]
    assert birthday.message("pt-BR", "João") == ("pt", "Feliz aniversário, João!")
    assert birthday.message("zh_CN", None) == ("zh", "生日快乐！")
    assert birthday.message("ko", "Min") == ("en", "Happy birthday, Min!")  # no Korean template: English
    assert triggers["abandoned_cart"].window_minutes == 60 and triggers["win_back"].inactive_days == 30


def test_a_bad_definitions_file_names_the_field(tmp_path: Path) -> None:
    document = yaml.safe_load(TRIGGERS_FILE.read_text())
    del document["triggers"]["birthday"]["messages"]["pt"]
    document["triggers"]["abandoned_cart"]["window_minutes"] = 0
    bad = tmp_path / "triggers.yaml"
    bad.write_text(yaml.safe_dump(document, allow_unicode=True))
    with pytest.raises(ValidationError) as exc:
        load_definitions(bad)
    text = str(exc.value)
    assert "triggers.birthday.messages" in text and "messages missing for languages ['pt']" in text
    assert "triggers.abandoned_cart.window_minutes" in text


def test_sources_are_created_by_staff_with_a_known_role_and_purpose(store: Store) -> None:
    operator, roles = AccessContext.operator("personalization"), set(policy_gate().roles)
    source, key = store.run(
        lambda s: create_source(s, operator, name="web", role="frontend_app", purpose="personalization", roles=roles)
    )
    with store.session() as session:
        found, access = authenticate_write_key(session, key)
        assert found.id == source.id and (access.principal.role, access.purpose) == ("frontend_app", "personalization")
        with pytest.raises(AuthError, match="unknown write key"):
            authenticate_write_key(session, key + "x")
    with pytest.raises(ValueError, match="unknown role"):
        store.run(
            lambda s: create_source(s, operator, name="w2", role="intern", purpose="personalization", roles=roles)
        )
    with pytest.raises(UnknownPurpose):
        store.run(lambda s: create_source(s, operator, name="w3", role="frontend_app", purpose="spam", roles=roles))
    app = AccessContext.for_principal(Principal("k", "shop", "frontend_app"), "personalization")
    with pytest.raises(AccessDenied):  # an app cannot mint write keys for itself
        store.run(lambda s: create_source(s, app, name="w4", role="admin", purpose="personalization", roles=roles))
    subject = AccessContext.for_principal(Principal("k", "me", "data_subject", "p-1"), "data_subject_rights")
    with pytest.raises(AccessDenied):
        store.run(
            lambda s: create_source(s, subject, name="w5", role="frontend_app", purpose="personalization", roles=roles)
        )
