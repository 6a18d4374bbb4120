"""HTTP connections with a read timeout: a request's headers and body must arrive in time.

uvicorn has a keep-alive timeout but none for reading a request, so a client that trickles its headers
or body a byte at a time holds a connection, its buffers and (once the headers are in) a request task
for as long as it likes. Here each request gets `read_timeout_s` from its first byte (a new connection:
from the connect) to its last; past that it is answered 408 and the connection closed, the way
nginx's client_header_timeout and client_body_timeout answer. This is uvicorn's own httptools
protocol (what uvicorn[standard] uses) with one timer added at its parser callbacks.
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class ReadTimeoutProtocol(HttpToolsProtocol):
    read_timeout_s: float = 15.0  # set by `with_read_timeout`

    _reading: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_reading()  # a connection that never sends a byte is cut too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._reading is None:  # the next request on a kept-alive connection
            self._start_reading()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._stop_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_reading()
        super().connection_lost(exc)

    def _start_reading(self) -> None:
        self._reading = self.loop.call_later(self.read_timeout_s, self._timed_out)

    def _stop_reading(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None

    def _timed_out(self) -> None:
        self._reading = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            detail = f"the request did not arrive within the read timeout of {self.read_timeout_s:g} s"
            body = json.dumps(
                {"type": "about:blank", "title": "Request Timeout", "status": 408, "detail": detail}
            ).encode()
            head = (
                "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        self.transport.close()  # a request task waiting for the rest of its body sees a disconnect


def with_read_timeout(seconds: float) -> type[ReadTimeoutProtocol]:
    """The protocol class to give uvicorn.Config(http=...)."""
    return type("ReadTimeoutProtocol", (ReadTimeoutProtocol,), {"read_timeout_s": seconds})
