"""The minimal app bench/serve.py measures `cdp serve` against: one strawberry query reading one row by email
from a table with the fields the cdp lookup returns, in clear (no key, no gate, no audit, no encryption).

It imports no more than such an app needs (strawberry, starlette, SQLAlchemy), so its processes are as small
as that app's would be: a bigger heap would cost it garbage-collection time that is not its own.

  BENCH_MINIMAL_DATABASE_URL=sqlite:///... python -m bench.minimal_app --port 8001 [--workers N]
"""

from __future__ import annotations

import argparse
import os

import strawberry
from sqlalchemy import Column, MetaData, String, Table, create_engine, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

DATABASE_ENV = "BENCH_MINIMAL_DATABASE_URL"

metadata = MetaData()
profile_table = Table(
    "bench_profile",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("phone", String(50)),
    Column("city", String(200)),
)


@strawberry.type
class MinimalProfile:
    id: strawberry.ID
    first_name: str | None
    last_name: str | None
    email: str
    phone: str | None
    city: str | None


def minimal_app() -> Starlette:
    """The app of one server process (uvicorn --factory)."""
    url = os.environ[DATABASE_ENV]
    engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})

    @strawberry.type
    class Query:
        @strawberry.field
        def profile_by_email(self, email: str) -> MinimalProfile | None:
            with engine.connect() as conn:
                row = conn.execute(select(profile_table).where(profile_table.c.email == email)).first()
            return None if row is None else MinimalProfile(**row._mapping)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/healthz", health)])
    app.add_route("/graphql", GraphQL(strawberry.Schema(query=Query)))
    return app


def main() -> None:
    """Served as `cdp serve [--workers N]` serves cdp."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.workers > 1:
        from cdp.cli.serving import run_workers

        run_workers("bench.minimal_app:minimal_app", workers=args.workers, host="127.0.0.1", port=args.port)
        return
    import uvicorn

    uvicorn.run(minimal_app(), host="127.0.0.1", port=args.port, log_level="warning", log_config=None)


if __name__ == "__main__":
    main()
