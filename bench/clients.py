"""Websocket clients that load a dashboard server the way open browser pages do, at a fraction of the cost.

Each client speaks Bokeh's protocol as BokehJS does: it opens a session, pulls the document, sends
``document_ready`` (without it the server never considers the page connected) and then reads every
update the server sends until it is closed. It does not apply the updates to a document of its own: that is
the browser's work, not the server's, and 50 Python documents would take the cores the server is measured
on. (Bokeh's own ``ClientSession`` stops reading once ``pull_session`` returns, so its sessions leave the
server writing into full sockets.)
"""

from __future__ import annotations

import asyncio
import threading

from bokeh.client.util import websocket_url_for_server_url
from bokeh.client.websocket import WebSocketClientConnectionWrapper
from bokeh.document import Document
from bokeh.events import DocumentReady
from bokeh.protocol import Protocol
from bokeh.protocol.receiver import Receiver
from bokeh.util.token import generate_jwt_token, generate_session_id
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def _ready_patch(protocol: Protocol):
    """The PATCH-DOC message a page sends once it has rendered: a ``document_ready`` event."""
    document = Document()
    events = []
    document.on_change(events.append)
    document.callbacks.send_event(DocumentReady())
    return protocol.create("PATCH-DOC", events)


class ListeningClient:
    """One page's worth of websocket traffic: pull the document, say it is ready, read every update."""

    def __init__(self, url: str):
        self.url = websocket_url_for_server_url(url)  # http://host/app -> ws://host/app/ws
        self.frames = 0
        self.cookies: dict[str, str] = {}  # what the websocket's upgrade response set (a proxy's cookie)
        self._protocol = Protocol()
        self._socket: WebSocketClientConnection | None = None

    async def open(self) -> None:
        """Connect, pull the document and send ``document_ready``; raises when the server refuses."""
        token = generate_jwt_token(generate_session_id())
        self._socket = await websocket_connect(
            HTTPRequest(self.url), subprotocols=["bokeh", token], max_message_size=MAX_MESSAGE_BYTES
        )
        for header in self._socket.headers.get_list("Set-Cookie"):
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        receiver = Receiver(self._protocol)
        await self._expect(receiver, "ACK")
        await self._send(self._protocol.create("PULL-DOC-REQ"))
        await self._expect(receiver, "PULL-DOC-REPLY")
        await self._send(_ready_patch(self._protocol))

    async def listen(self) -> None:
        """Read what the server sends until the connection closes."""
        while await self._socket.read_message() is not None:
            self.frames += 1

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()

    async def _send(self, message) -> None:
        await message.send(WebSocketClientConnectionWrapper(self._socket))

    async def _expect(self, receiver: Receiver, msgtype: str) -> None:
        while (fragment := await self._socket.read_message()) is not None:
            message = await receiver.consume(fragment)
            if message is not None and message.msgtype == msgtype:
                return
        raise ConnectionError(f"the server closed the websocket before {msgtype}")


class ClientPool:
    """``count`` listening clients on a thread and event loop of their own.

    Their own thread, because a caller such as Playwright's synchronous API already runs a loop on its own.
    """

    def __init__(self, url: str, count: int, timeout_s: float = 600.0):
        self.clients = [ListeningClient(url) for _ in range(count)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._listening: list[asyncio.Future] = []
        try:
            asyncio.run_coroutine_threadsafe(self._open_all(), self._loop).result(timeout=timeout_s)
        except BaseException:
            self.close()
            raise

    async def _open_all(self) -> None:
        for client in self.clients:  # one after the other, as pages opened by people would arrive
            await client.open()
            self._listening.append(asyncio.ensure_future(client.listen()))

    @property
    def frames(self) -> int:
        """Websocket frames received by all clients so far (a Bokeh message is three or more)."""
        return sum(client.frames for client in self.clients)

    def close(self, timeout_s: float = 60.0) -> None:
        """Close every connection and stop the thread."""

        async def close_all() -> None:
            for client in self.clients:
                client.close()
            if self._listening:
                await asyncio.wait(self._listening, timeout=timeout_s)

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(timeout=timeout_s + 5)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=timeout_s)
        self._loop.close()
