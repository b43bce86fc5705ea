"""`cdp serve --workers N`: uvicorn's supervisor over one listening socket shared by the worker processes."""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

# How long a worker may take to answer its first health check. It answers only once it has imported cdp, which
# takes seconds on a busy machine: uvicorn's 5 s default killed and restarted workers in a loop there.
WORKER_STARTUP_SECONDS = 60


def listener(config: uvicorn.Config) -> socket.socket:
    """The shared listening socket, with TCP_NODELAY, which Linux hands on to every connection accepted from it.

    uvicorn makes this socket with protocol number 0, and asyncio sets TCP_NODELAY only on connections whose
    socket says IPPROTO_TCP: without it, a keep-alive response written in two parts (head, then body) held the
    body until the client's delayed ACK, 40 ms on every request after a connection's first."""
    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def run_workers(factory: str, *, workers: int, host: str, port: int) -> None:
    """The app made by `factory` (an import string) in `workers` processes, as `cdp serve` runs them."""
    config = uvicorn.Config(
        factory, factory=True, workers=workers, host=host, port=port, log_level="warning", log_config=None,
        timeout_worker_healthcheck=WORKER_STARTUP_SECONDS,
    )  # fmt: skip
    Multiprocess(config, sockets=[listener(config)]).run()
