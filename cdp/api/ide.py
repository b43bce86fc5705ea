"""GraphiQL, served with its assets from the app itself (pinned copies under static/graphiql): it works
offline and sends nothing to a third-party host."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"
_ASSETS = "/static/graphiql"

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cdp GraphQL</title>
<link rel="stylesheet" href="{_ASSETS}/graphiql.min.css">
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{_ASSETS}/react.production.min.js"></script>
<script src="{_ASSETS}/react-dom.production.min.js"></script>
<script src="{_ASSETS}/graphiql.min.js"></script>
<script src="{_ASSETS}/start.js"></script>
</body>
</html>
"""


def ide_page() -> HTMLResponse:
    return HTMLResponse(PAGE)
