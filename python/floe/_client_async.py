"""floe.AsyncClient: floe.Client for asyncio, natively asynchronous (no threads).

    async with floe.AsyncClient("http://127.0.0.1:8080") as c:
        a, b = await asyncio.gather(c.embed(["x"]), c.embed(["y"]))

gRPC goes through grpc.aio on one channel; HTTP through a small HTTP/1.1 client on
asyncio streams that keeps connections alive and opens one more whenever every open one
is busy, so concurrent calls from one event loop are in flight together. The requests,
results and errors are Client's (_client_ops.py holds them for both).
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._client import _Base
from ._client_ops import step
from ._client_protocols import (GRPC_OPTIONS, Call, FloeError, Texts, grpc_method, grpc_module,
                                http_headers, http_result, rpc_error)

__all__ = ["AsyncClient"]

_Conn = Tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Stale(ConnectionError):
    """A kept-alive connection closed before any of the answer came: send again."""


class _AsyncHttp:
    """HTTP/1.1 on asyncio streams, keep-alive: idle connections wait in a pool (at
    most max_idle); a request takes one or opens a new one. Content-Length and chunked
    answers. A host name is resolved once (asyncio's getaddrinfo, in the loop's
    executor); an IP address needs no resolving. Connections belong to the event loop
    that opened them: a call from another loop starts a fresh pool."""

    def __init__(self, url: str, api_key: Optional[str], timeout: float, max_idle: int = 64):
        u = urllib.parse.urlsplit(url)
        if not u.hostname:
            raise ValueError(f"no host in {url!r}")
        self.url = url
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.prefix = u.path.rstrip("/")
        self.ssl = ssl.create_default_context() if u.scheme == "https" else None
        host = self.host if u.port is None else f"{self.host}:{u.port}"
        self.head = "".join(f"{k}: {v}\r\n" for k, v in
                            {"Host": host, "Accept": "application/json",
                             **http_headers(api_key)}.items())
        self.timeout = timeout
        self.max_idle = max_idle
        self.idle: List[_Conn] = []
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.address: Optional[str] = None

    async def send(self, call: Call) -> Any:
        data = b"" if call.request is None else json.dumps(call.request).encode()
        head = (f"{call.method} {self.prefix}{call.path} HTTP/1.1\r\n{self.head}"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        try:
            status, reason, raw = await asyncio.wait_for(self._exchange(head + data),
                                                         self.timeout)
        except asyncio.TimeoutError:
            raise FloeError(f"cannot reach {self.url}: no answer in {self.timeout} s") from None
        except (OSError, EOFError, ValueError) as e:  # refused, reset, a garbled answer
            raise FloeError(f"cannot reach {self.url}: {type(e).__name__}: {e}") from None
        return call.parse(http_result(status, raw, reason))

    async def _exchange(self, payload: bytes):
        loop = asyncio.get_running_loop()
        if loop is not self.loop:
            self.idle, self.loop, self.address = [], loop, None
        while True:
            reused = bool(self.idle)
            reader, writer = self.idle.pop() if reused else await self._connect(loop)
            keep = False
            try:
                writer.write(payload)
                await writer.drain()
                status, reason, raw, keep = await self._read(reader)
                return status, reason, raw
            except (_Stale, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                # the server closed an idle connection: try the next (or a new) one
            finally:
                if keep and len(self.idle) < self.max_idle:
                    self.idle.append((reader, writer))
                else:
                    writer.close()

    async def _connect(self, loop) -> _Conn:
        if self.address is None:
            try:
                self.address = str(ipaddress.ip_address(self.host))
            except ValueError:
                infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
                self.address = infos[0][4][0]
        return await asyncio.open_connection(
            self.address, self.port, ssl=self.ssl,
            server_hostname=self.host if self.ssl is not None else None)

    @staticmethod
    async def _read(reader: asyncio.StreamReader):
        """(status, reason, body, keep-alive) of one answer."""
        while True:
            line = await reader.readline()
            if not line:
                raise _Stale("connection closed before an answer")
            parts = line.decode("latin-1").split(None, 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise ValueError(f"not an HTTP answer: {line[:80]!r}")
            status = int(parts[1])
            headers: Dict[str, str] = {}
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if status >= 200:  # 1xx (100 Continue): the real answer follows
                break
        keep = (headers.get("connection", "").lower() != "close" and
                not parts[0].endswith("/1.0"))
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif status in (204, 304):
            body = b""
        else:  # the body runs to the end of the connection
            body, keep = await reader.read(), False
        return status, (parts[2].strip() if len(parts) > 2 else ""), body, keep

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            try:
                await writer.wait_closed()
            except OSError:
                pass


class _AsyncGrpc:
    """grpc.aio on one channel, opened on first use in the running event loop."""

    def __init__(self, target: str, api_key: Optional[str], timeout: float):
        self.grpc = grpc_module()
        import grpc.aio  # noqa: F401 - fail here, not at the first call
        self.target = target
        self.metadata = (("authorization", f"Bearer {api_key}"),) if api_key else None
        self.timeout = timeout
        self.channel = None
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.methods: Dict[str, Any] = {}

    def _method(self, call: Call):
        loop = asyncio.get_running_loop()
        if self.channel is None or loop is not self.loop:
            self.channel = self.grpc.aio.insecure_channel(self.target, options=GRPC_OPTIONS)
            self.loop, self.methods = loop, {}
        m = self.methods.get(call.path)
        if m is None:
            m = self.methods[call.path] = grpc_method(self.channel, call)
        return m

    async def send(self, call: Call) -> Any:
        m = self._method(call)
        try:
            if call.kind == "unary":
                reply = await m(call.request, timeout=self.timeout, metadata=self.metadata)
            else:
                reply = [r async for r in m(iter(call.request), timeout=self.timeout,
                                            metadata=self.metadata)]
        except self.grpc.RpcError as e:  # grpc.aio.AioRpcError is one
            raise rpc_error(e) from None
        return call.parse(reply)

    async def close(self) -> None:
        if self.channel is not None:
            channel, self.channel = self.channel, None
            await channel.close()


class AsyncClient(_Base):
    """floe.Client for asyncio: the same constructor, methods (as coroutines), results
    and errors (floe.FloeError), without threads: grpc.aio for gRPC, asyncio streams
    with keep-alive for HTTP. Calls from one event loop run concurrently; a list longer
    than batch_size goes out as concurrent requests. Use it from one event loop at a
    time."""

    _HTTP = _AsyncHttp
    _GRPC = _AsyncGrpc

    async def _send(self, out):
        try:
            return await (self._many(out) if isinstance(out, list) else self._t.send(out))
        except FloeError as e:
            return e

    async def _run(self, gen):
        done, out = step(gen)
        while not done:
            done, out = step(gen, await self._send(out))
        return out

    async def _many(self, calls: List[Call]):
        if len(calls) == 1:
            return [await self._t.send(calls[0])]
        tasks = [asyncio.ensure_future(self._t.send(c)) for c in calls]
        try:
            return await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def embed(self, texts: Texts, dimensions: Optional[int] = None,
                    normalize: Optional[bool] = None, prompt_name: Optional[str] = None):
        """As floe.Client.embed."""
        return await self._run(self._api.embed(texts, dimensions, normalize, prompt_name))

    async def embed_all(self, texts: Texts, prompt_name: Optional[str] = None):
        """As floe.Client.embed_all."""
        return await self._run(self._api.embed_all(texts, prompt_name))

    async def rerank(self, query: str, documents: Sequence[str], top_k: Optional[int] = None,
                     return_documents: bool = False, raw_scores: bool = False):
        """As floe.Client.rerank."""
        return await self._run(self._api.rerank(query, documents, top_k, return_documents,
                                                raw_scores))

    async def tokenize(self, texts: Texts, prompt_name: Optional[str] = None):
        """As floe.Client.tokenize."""
        return await self._run(self._api.tokenize(texts, prompt_name))

    async def info(self) -> Dict[str, Any]:
        """As floe.Client.info."""
        return await self._run(self._api.info())

    async def close(self) -> None:
        await self._t.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
