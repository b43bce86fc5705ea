"""Mail without a mail server: by default each verification email is an .eml file under the data directory's
outbox/, its path logged, so the privacy-centre flow works in an embedded or demo deployment."""

from __future__ import annotations

import logging
import re
import stat
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest

from cdp.dsr.settings import get_dsr_settings
from cdp.settings import get_settings
from cdp.store import Store
from tests.factories import event, ingest_all
from tests.graphql_client import GraphQLClient


@pytest.fixture
def default_mail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No mail settings at all; the data directory is tmp_path/data."""
    for name in ("CDP_MAIL_TRANSPORT", "CDP_MAIL_OUTBOX_DIR", "CDP_SMTP_HOST", "CDP_SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CDP_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    get_dsr_settings.cache_clear()
    yield tmp_path / "data" / "outbox"
    get_settings.cache_clear()
    get_dsr_settings.cache_clear()


def test_the_privacy_centre_flow_runs_with_the_file_outbox(
    store: Store, gql: GraphQLClient, default_mail: Path, caplog: pytest.LogCaptureFixture
) -> None:
    [me] = ingest_all(store, event({"email": "outbox@example.fr"}, country="FR", traits={"first_name": "Zoé"}))
    centre = gql.key("frontend_app")
    caplog.set_level(logging.INFO, logger="cdp.mail")
    started = gql.run(
        "StartRequest",
        {"kind": "access", "identifierKind": "email", "value": "outbox@example.fr"},
        key=centre,
        purpose="data_subject_rights",
    )["data"]["startDsrRequest"]

    [message_file] = list(default_mail.glob("*.eml"))
    assert stat.S_IMODE(message_file.stat().st_mode) == 0o600
    message = message_from_bytes(message_file.read_bytes())
    assert message["To"] == "outbox@example.fr"
    [record] = [r for r in caplog.records if r.name == "cdp.mail"]
    assert str(message_file) in record.getMessage() and "outbox@example.fr" not in record.getMessage()

    match = re.search(r"verification code: (\d+)", message.get_payload(decode=True).decode())
    assert match
    verified = gql.run(
        "VerifyRequest", {"requestId": started["id"], "code": match.group(1)}, key=centre, purpose="data_subject_rights"
    )["data"]["verifyDsrRequest"]
    mine = gql.run("MyProfile", key=verified["token"], purpose="data_subject_rights")["data"]["profiles"]["nodes"]
    assert [(p["id"], p["firstName"]) for p in mine] == [(me.profile_id, "Zoé")]
