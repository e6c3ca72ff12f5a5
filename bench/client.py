"""A load client that behaves like a browser: keep-alive, cookies, forms, redirects.

HTTP/1.1 over a plain socket, parsing only what a browser needs here (status, length,
Location, Set-Cookie).  ``http.client`` parses every header with the ``email`` package and
cost the client side more CPU than the bare hello server it was measuring; the driver
reports the clients' CPU next to every result so this stays visible.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

CSRF_RE = re.compile(rb'name="csrf_token" type="hidden" value="([^"]+)"')
# The count shown on the initiative page (templates/macros/forms.html, ``progress``),
# grouped as the page's language writes numbers: 12 345 (a no-break space), 12,345, 12.345.
PAGE_COUNT_RE = re.compile(rb'class="progress-count"><strong>(\d[\d.,\xc2\xa0]*)</strong>')


def page_count(body: bytes) -> int | None:
    """The count an initiative page shows, or None if it shows none."""
    match = PAGE_COUNT_RE.search(body)
    return int(re.sub(rb"\D", b"", match.group(1))) if match else None


class ProtocolError(OSError):
    """The server closed the connection or answered something that is not HTTP/1.1."""


class FlowError(Exception):
    """A step of a flow did not get the answer a working site gives."""


@dataclass
class Response:
    status: int
    headers: dict[bytes, list[bytes]]
    body: bytes

    def header(self, name: bytes) -> str | None:
        values = self.headers.get(name)
        return values[0].decode("latin-1") if values else None

    def location(self) -> str:
        target = self.header(b"location") or ""
        parts = urlsplit(target)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def csrf_token(self) -> str:
        match = CSRF_RE.search(self.body)
        if match is None:
            raise FlowError(f"no CSRF token in a {self.status} page")
        return match.group(1).decode()


@dataclass
class Recorder:
    """Latencies of requests, per kind, that started inside the measured window."""

    window_start: float
    window_end: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    flows: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    reconnects: int = 0

    def in_window(self, started: float) -> bool:
        return self.window_start <= started < self.window_end

    def request(self, kind: str, started: float, elapsed: float) -> None:
        if self.in_window(started):
            self.latencies.setdefault(kind, []).append(elapsed)

    def error(self, started: float, message: str) -> None:
        if self.in_window(started):
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(message)


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened when the server closes it."""

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.opened = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = b""

    def _recv(self) -> bytes:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ProtocolError("connection closed by the server")
        return data

    def exchange(self, request: bytes) -> Response:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.opened += 1
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"not an HTTP response: {lines[0][:60]!r}")
        headers: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        if b"chunked" in b"".join(headers.get(b"transfer-encoding", [])):
            raise ProtocolError("chunked responses are not expected here")
        length = int(headers.get(b"content-length", [b"0"])[0])
        while len(rest) < length:
            rest += self._recv()
        body, self.buffer = rest[:length], rest[length:]
        if b"close" in b"".join(headers.get(b"connection", [])).lower():
            self.close()
        return Response(int(parts[1]), headers, body)


class Browser:
    """One visitor: a keep-alive connection and a cookie jar."""

    def __init__(self, host: str, port: int, recorder: Recorder, language: str = "sv"):
        self.recorder = recorder
        self.cookies: dict[str, str] = {}
        self.prefix = (
            f"Host: {host}:{port}\r\nAccept-Language: {language}\r\n"
            "User-Agent: initiatives-bench\r\nAccept: text/html,application/json\r\n"
        ).encode()
        self.conn = Connection(host, port)

    def close(self) -> None:
        self.recorder.reconnects += max(self.conn.opened - 1, 0)
        self.conn.close()

    def request(
        self, kind: str, method: str, path: str, form: dict[str, str] | None = None
    ) -> Response:
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self.prefix
        if self.cookies:
            cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            head += f"Cookie: {cookie}\r\n".encode()
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            head += b"Content-Type: application/x-www-form-urlencoded\r\n"
            head += f"Content-Length: {len(body)}\r\n".encode()
        request = head + b"\r\n" + body
        started = time.monotonic()
        try:
            response = self.conn.exchange(request)
        except (ProtocolError, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection: a browser retries once.
            self.conn.close()
            response = self.conn.exchange(request)
        self.recorder.request(kind, started, time.monotonic() - started)
        for cookie in response.headers.get(b"set-cookie", ()):
            name, _, value = cookie.decode("latin-1").split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        return response

    def get(self, kind: str, path: str, expect: int = 200) -> Response:
        response = self.request(kind, "GET", path)
        if response.status != expect:
            raise FlowError(f"GET {kind}: {response.status}")
        return response

    def post(self, kind: str, path: str, form: dict[str, str], expect: int = 303) -> Response:
        response = self.request(kind, "POST", path, form)
        if response.status != expect:
            raise FlowError(f"POST {kind}: {response.status}")
        return response
