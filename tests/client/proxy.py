"""A loopback TCP proxy that drops the response of chosen requests (after the server handled them)."""

from __future__ import annotations

import asyncio
import threading


class DroppingProxy:
    """Forwards to ``127.0.0.1:target``; for the next ``drops`` requests containing ``marker`` the
    server's answer is not passed on: the client's connection is reset instead."""

    def __init__(self, target: int, marker: bytes, drops: int = 1) -> None:
        self.target = target
        self.marker = marker
        self.drops = drops
        self.dropped = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DroppingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        # Let handlers of just-accepted connections start, so that cancelling them closes their sockets.
        self._loop.run_until_complete(asyncio.sleep(0))
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.run_until_complete(self._server.wait_closed())
        self._loop.run_until_complete(asyncio.sleep(0.05))  # the transports' close callbacks
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except BaseException:
            writer.close()
            raise
        drop = asyncio.Event()

        async def to_server() -> None:
            while data := await reader.read(65536):
                if self.marker in data and self.drops > 0:
                    self.drops -= 1
                    drop.set()
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def to_client() -> None:
            while data := await upstream_reader.read(65536):
                if drop.is_set():
                    # The server has answered (so it has done the work); the client never hears.
                    self.dropped += 1
                    writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.ensure_future(to_server()), asyncio.ensure_future(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Close both before awaiting anything: the proxy's shutdown may cancel this very await.
            for task in tasks:
                task.cancel()
            upstream_writer.close()
            writer.close()
            await asyncio.gather(*tasks, return_exceptions=True)
