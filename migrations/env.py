"""Alembic environment: one metadata (cdp.metadata) for all packages; URL from cdp settings."""

from alembic import context

from cdp.db import make_engine, partition_names
from cdp.metadata import metadata
from cdp.settings import get_settings

config = context.config
url = config.attributes.get("database_url") or get_settings().resolved_database_url()


def run_offline() -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_engine(url)
    with engine.connect() as probe:  # its own connection: a query here would leave the migrations' uncommitted
        partitions = partition_names(probe)  # autogenerate compares the parent table, not each month
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=True,
            include_name=lambda name, type_, _parents: type_ != "table" or name not in partitions,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
