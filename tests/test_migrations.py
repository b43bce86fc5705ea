"""The migrations build exactly the tables the models declare: a model change without its migration (or a
migration the models do not know) fails here, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from cdp.db import partition_names
from cdp.metadata import metadata
from cdp.settings import Settings


def test_migrated_schema_matches_the_models(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            partitions = partition_names(conn)  # PostgreSQL's monthly event partitions: the models know the parent
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": False,
                    "include_name": lambda name, type_, _parents: type_ != "table" or name not in partitions,
                },
            )
            diff = [
                d
                for d in compare_metadata(context, metadata)
                if d[0] != "remove_table" or d[1].name != "alembic_version"
            ]
    finally:
        engine.dispose()
    assert diff == []
