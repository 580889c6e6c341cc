"""The real web server (waitress) on 127.0.0.1 at a free port, in a background thread; and
the outbox sender thread, as the daemon would run it."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.request
from types import TracebackType

from flask import Flask
from waitress.server import create_server

from bot.app import App
from bot.letters.sender import Sender, make_transport
from tests.servers import free_port


class LiveServer:
    def __init__(self, flask: Flask, threads: int = 4) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = create_server(flask, host="127.0.0.1", port=self.port, threads=threads)
        self._thread = threading.Thread(target=self._server.run, name="waitress", daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Stop the loop before closing its sockets (closing them under a running select()
        # raises EBADF in the server thread): with its map empty it ends as soon as the
        # trigger wakes it.
        sockets = self._server._map  # type: ignore[attr-defined]
        channels = list(sockets.values())
        sockets.clear()
        self._server.pull_trigger()  # type: ignore[attr-defined]
        self._thread.join(timeout=5)
        for channel in channels:
            with contextlib.suppress(OSError):
                channel.close()
        dispatcher = getattr(self._server, "task_dispatcher", None)
        if dispatcher is not None:
            dispatcher.shutdown(timeout=5)
        self._thread.join(timeout=5)


class SenderThread:
    """``Sender.run`` in a thread with a short idle wait, stopped on exit."""

    def __init__(self, app: App) -> None:
        self.sender = Sender(
            app.sessions,
            app.services,
            make_transport(app.config.outbound),
            app.intake.clock,
            idle_wait=0.2,
        )
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self.sender.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> SenderThread:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop.set()
        self.sender.wake.set()
        self._thread.join(timeout=10)
