"""A browser's connections to one origin, in asyncio: at most 6, kept alive, reused.

Plain HTTP/1.1 over asyncio streams (Content-Length or chunked answers), so hundreds of
simulated browsers fit in one process. As a browser does, a request that fails on a reused
connection before any answer byte (the server closed it while idle) is sent again once on a
fresh one; anything else is the server's error to count.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

#: Chromium's and Firefox's limit of connections per origin over HTTP/1.1
PER_ORIGIN = 6


class HttpError(Exception):
    """The request got no complete answer: connection refused, reset, cut short."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: int = 0

    def close(self) -> None:
        self.writer.close()


@dataclass
class Pool:
    """Up to ``size`` keep-alive connections to ``host:port``, opened when needed."""

    host: str
    port: int
    size: int = PER_ORIGIN
    cookies: dict[str, str] = field(default_factory=dict)
    opened: int = 0
    _idle: list[Conn] = field(default_factory=list)
    _count: int = 0
    _freed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> Answer:
        """Send one request on a free connection (waiting for one, as a browser queues)."""
        conn = await self._take()
        try:
            try:
                answer = await self._exchange(conn, method, path, body, headers)
            except _NothingBack:
                if not conn.used:
                    raise HttpError("connection closed before any answer") from None
                conn.close()
                conn = await self._open()
                answer = await self._exchange(conn, method, path, body, headers)
        except BaseException:
            conn.close()
            await self._give(None)
            raise
        keep = answer.headers.get("connection", "").lower() != "close"
        if not keep:
            conn.close()
        await self._give(conn if keep else None)
        return answer

    def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    async def _take(self) -> Conn:
        async with self._freed:
            while not self._idle and self._count >= self.size:
                await self._freed.wait()
            if self._idle:
                return self._idle.pop()
            self._count += 1
        try:
            return await self._open()
        except BaseException:
            await self._give(None)
            raise

    async def _give(self, conn: Conn | None) -> None:
        async with self._freed:
            if conn is None:
                self._count -= 1
            else:
                self._idle.append(conn)
            self._freed.notify()

    async def _open(self) -> Conn:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 24)
        except OSError as exc:
            raise HttpError(f"connect: {exc}") from None
        self.opened += 1
        return Conn(reader, writer)

    async def _exchange(self, conn: Conn, method: str, path: str, body: bytes,
                        headers: dict[str, str] | None) -> Answer:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}", "Accept-Encoding: gzip"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        try:
            conn.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await conn.writer.drain()
            status_line = await conn.reader.readline()
        except (ConnectionError, OSError):
            raise _NothingBack from None
        if not status_line:
            raise _NothingBack
        conn.used += 1
        try:
            answer = await _read_rest(conn.reader, status_line)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            raise HttpError(f"answer cut short: {exc!r}") from None
        self._keep_cookies(answer)
        return answer

    def _keep_cookies(self, answer: Answer) -> None:
        cookie = answer.headers.get("set-cookie")
        if cookie:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]


class _NothingBack(Exception):
    """Not one byte of an answer: the connection was dead before or as the request went."""


async def _read_rest(reader: asyncio.StreamReader, status_line: bytes) -> Answer:
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _chunks(reader)
    else:
        body = b""
    return Answer(status, headers, body)


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()
