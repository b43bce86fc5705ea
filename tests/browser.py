"""Running the app for a real browser: uvicorn on a free loopback port in a thread, and Debian's chromium driven
by Playwright (nothing is downloaded: `executable_path` points at the system browser)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from cdp.api.app import create_app
from cdp.store import Store

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORTS = {375: {"width": 375, "height": 812}, 1280: {"width": 1280, "height": 800}}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@contextmanager
def serving(store: Store) -> Iterator[str]:
    """The ASGI app on http://127.0.0.1:<free port> until the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def screenshot_dir(tmp_path: Path) -> Path:
    """docs/screenshots when CDP_SCREENSHOTS=1 (to refresh the committed ones), else the test's tmp dir."""
    target = SCREENSHOTS if os.environ.get("CDP_SCREENSHOTS") == "1" else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target
