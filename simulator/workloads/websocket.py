"""echo-basic's `/ws`: golang.org/x/net/websocket's server handshake and an `io.Copy(ws, ws)`
echo (gateway-api conformance/echo-basic/echo-basic.go, wsHandler).

What x/net/websocket does and this copies (websocket/server.go, hybi.go): `websocket.Handler`
checks the Origin header (checkOrigin: missing -> 403); a handshake error is written raw as
`HTTP/1.1 <code> <text>\\r\\n\\r\\n<error>` and the connection closed; every data frame read
is written back as one unmasked *text* frame (the server Conn's PayloadType); pings get
pongs; a close frame ends the handler and the TCP connection is closed without a close
frame in reply.
"""

from __future__ import annotations

import base64
import hashlib
import struct

from .golang import status_line_text
from .httpserver import HttpRequest, HttpResponse, Upgraded

__all__ = ["websocket_response"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def _raw_error(code: int, message: str, extra: str = "") -> HttpResponse:
    head = f"HTTP/1.1 {code:03d} {status_line_text(code)}\r\n{extra}\r\n{message}"
    return HttpResponse(code, raw=head.encode())


def websocket_response(request: HttpRequest) -> HttpResponse:
    """The handshake answer to a request for `/ws` (101 with an echo loop, or an error)."""
    if request.method != "GET":
        return _raw_error(405, "bad method")
    upgrade = (request.header("Upgrade") or "").lower()
    connection = (request.header("Connection") or "").lower()
    if upgrade != "websocket" or "upgrade" not in connection:
        return _raw_error(400, "not websocket protocol")
    key = request.header("Sec-WebSocket-Key") or ""
    if not key:
        return _raw_error(400, "mismatch challenge/response")
    if request.header("Sec-WebSocket-Version") != "13":
        return _raw_error(400, "missing or bad WebSocket Version", "Sec-WebSocket-Version: 13\r\n")
    origin = request.header("Origin") or ""
    if not origin or not ("://" in origin or origin.startswith("/")):
        return HttpResponse(403, raw=b"HTTP/1.1 403 Forbidden\r\n\r\n")
    offered = (request.header("Sec-WebSocket-Protocol") or "").strip()
    protocols = [p.strip() for p in offered.split(",")] if offered else []
    if len(protocols) > 1:
        # AcceptHandshake: the plain Handler never picks one of several subprotocols.
        return HttpResponse(400, raw=b"HTTP/1.1 400 Bad Request\r\n\r\n")
    accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", accept)]
    if protocols:
        headers.append(("Sec-WebSocket-Protocol", protocols[0]))
    return HttpResponse(101, headers, upgrade=_echo)


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


async def _echo(stream: Upgraded) -> None:
    buf = bytearray()

    async def need(n: int) -> bool:
        while len(buf) < n:
            data = await stream.read()
            if not data:
                return False
            buf.extend(data)
        return True

    while await need(2):
        opcode = buf[0] & 0x0F
        masked = buf[1] & 0x80
        length = buf[1] & 0x7F
        offset = 2
        if length == 126:
            if not await need(4):
                return
            (length,) = struct.unpack_from("!H", buf, 2)
            offset = 4
        elif length == 127:
            if not await need(10):
                return
            (length,) = struct.unpack_from("!Q", buf, 2)
            offset = 10
        if not masked:
            # A client MUST mask its frames: x/net answers with close 1002 and stops.
            stream.write(_frame(_CLOSE, struct.pack("!H", 1002)))
            return
        if not await need(offset + 4 + length):
            return
        mask = buf[offset:offset + 4]
        start = offset + 4
        payload = _unmask(bytes(buf[start:start + length]), bytes(mask))
        del buf[:start + length]
        if opcode == _CLOSE:
            return
        if opcode == _PING:
            stream.write(_frame(_PONG, payload[:125]))
        elif opcode in (_TEXT, _BINARY, 0x0) and payload:
            stream.write(_frame(_TEXT, payload))
