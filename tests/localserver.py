"""An HTTP server on 127.0.0.1 for download tests: Range requests and injected faults.

Files are registered with :meth:`LocalServer.add` (bytes served at ``/<name>``). Per file, faults can
be queued for the next requests: ``"truncate"`` (announce the full length, send ``cut`` bytes, close),
``"reset"`` (send ``cut`` bytes and then abort the connection: a server error mid-stream),
``"500"`` (answer HTTP 500), ``"corrupt"`` (serve bytes with one flipped bit). ``throttle`` (bytes per
second) slows a file down so a test can kill a client in the middle; ``ranges=False`` makes the server
ignore Range headers. Every request is logged as :class:`Hit`.
"""

from __future__ import annotations

import http.server
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Hit:
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class _File:
    data: bytes
    faults: list[str] = field(default_factory=list)
    cut: int = 0
    throttle: float | None = None


class LocalServer:
    def __init__(self) -> None:
        self.files: dict[str, _File] = {}
        self.hits: list[Hit] = []
        self.ranges = True
        self._lock = threading.Lock()
        handler = _handler_for(self)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def add(self, name: str, data: bytes, *, faults: list[str] | None = None, cut: int = 0,
            throttle: float | None = None) -> str:
        self.files[name] = _File(data, list(faults or []), cut, throttle)
        return self.url(name)

    def hits_for(self, name: str) -> list[Hit]:
        return [h for h in self.hits if h.path == f"/{name}"]

    def start(self) -> LocalServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler_for(server: LocalServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _log(self, status: int, sent: int) -> None:
            with server._lock:
                server.hits.append(Hit(self.path, self.headers.get("Range"), status, sent))

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            entry = server.files.get(self.path.lstrip("/"))
            self.send_response(200 if entry else 404)
            self.send_header("Content-Length", str(len(entry.data) if entry else 0))
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            entry = server.files.get(self.path.lstrip("/"))
            if entry is None:
                self.send_error(404)
                self._log(404, 0)
                return
            with server._lock:
                fault = entry.faults.pop(0) if entry.faults else None
            if fault == "500":
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._log(500, 0)
                return
            data = entry.data
            if fault == "corrupt":
                data = bytes([data[0] ^ 1]) + data[1:]
            start, status = 0, 200
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and server.ranges:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    self._log(416, 0)
                    return
                status = 206
            body = data[start:]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Accept-Ranges", "bytes" if server.ranges else "none")
            self.end_headers()
            limit = len(body) if fault not in ("truncate", "reset") else min(entry.cut, len(body))
            sent = 0
            try:
                while sent < limit:
                    step = min(16384, limit - sent)
                    self.wfile.write(body[sent:sent + step])
                    self.wfile.flush()
                    sent += step
                    if entry.throttle:
                        time.sleep(step / entry.throttle)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self._log(status, sent)
            if fault == "reset":
                # abort the connection (RST): what a crashing server or proxy does mid-stream
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if fault in ("truncate", "reset"):
                self.close_connection = True
            if fault == "truncate":
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler
