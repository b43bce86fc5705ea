"""activation: trigger jobs, planner cursor, intake sources; destinations get a purpose and an encrypted
secret; outbox deliveries get a kind, a subject, a lease and the dead-letter state

Revision ID: 0010
Revises: 0011
Create Date: 2026-11-30 12:20:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "trigger_job",
        sa.Column("id", _str(length=36), nullable=False),
        sa.Column("key", _str(length=120), nullable=False),
        sa.Column("trigger", _str(length=32), nullable=False),
        sa.Column("purpose", _str(length=64), nullable=False),
        sa.Column("profile_id", _str(length=36), nullable=False),
        sa.Column("event_id", _str(length=36), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", _str(length=16), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", _str(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("trigger_job", schema=None) as batch_op:
        batch_op.create_index("ix_trigger_job_due", ["status", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_job_profile_id"), ["profile_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_trigger_job_decided_at"), ["decided_at"], unique=False)
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_received_at"), ["received_at"], unique=False)
    cursor = op.create_table(
        "planner_cursor",
        sa.Column("name", _str(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", _str(length=36), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # Both rows exist from the start, so concurrent workers lock them rather than race to create them.
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    op.bulk_insert(cursor, [{"name": n, "received_at": epoch, "event_id": ""} for n in ("events", "birthday")])
    op.create_table(
        "intake_source",
        sa.Column("id", _str(length=36), nullable=False),
        sa.Column("name", _str(length=41), nullable=False),
        sa.Column("role", _str(length=32), nullable=False),
        sa.Column("purpose", _str(length=64), nullable=False),
        sa.Column("prefix", _str(length=16), nullable=False),
        sa.Column("key_hash", _str(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("dsr_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", _str(length=32), nullable=False, server_default="erasure"))
        batch_op.add_column(sa.Column("profile_id", _str(length=36), nullable=True))
        batch_op.add_column(sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE dsr_outbox SET status = 'dead' WHERE status = 'failed'")
    with op.batch_alter_table("dsr_destination", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", _str(length=64), nullable=False, server_default="data_subject_rights"))
        batch_op.add_column(sa.Column("secret_ct", sa.LargeBinary(), nullable=True))
    _encrypt_secrets()
    with op.batch_alter_table("dsr_destination", schema=None) as batch_op:
        batch_op.alter_column("secret_ct", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("secret")


def _encrypt_secrets() -> None:
    """Move plaintext destination secrets into key-store-encrypted ciphertexts. Only when there are any: the
    key store and master key of the environment (CDP_KEYSTORE_URL, CDP_MASTER_KEY or the key file) are
    needed then, and their data keys are durable before the plaintext column is dropped."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, secret FROM dsr_destination")).all()
    if not rows:
        return
    from cdp.crypto.keystore import KeyStore
    from cdp.crypto.master import load_key_ring
    from cdp.db import make_engine
    from cdp.outbox.service import seal_secret
    from cdp.settings import get_settings

    settings = get_settings()
    keystore = KeyStore(make_engine(settings.resolved_keystore_url()), load_key_ring(settings))
    keystore.ensure_schema()
    sealed = [(destination_id, seal_secret(keystore, destination_id, secret)) for destination_id, secret in rows]
    keystore.flush()
    keystore.engine.dispose()
    for destination_id, secret_ct in sealed:
        conn.execute(
            sa.text("UPDATE dsr_destination SET secret_ct = :ct WHERE id = :id"),
            {"ct": secret_ct, "id": destination_id},
        )


def downgrade() -> None:
    raise NotImplementedError("destination secrets are not written back in plaintext")
