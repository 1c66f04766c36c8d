"""The HTTP/1.1 client that calls providers, against real servers on loopback that answer as each test scripts."""

from __future__ import annotations

import asyncio
import gzip
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from plano_proxy.proxy.config import Timeouts
from plano_proxy.proxy.upstream.http1 import UpstreamPool
from plano_proxy.proxy.upstream.http1_answer import UpstreamCut

Script = Callable[["Server", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
PATIENT = Timeouts(connect=5, first_byte=5, idle=5)
JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


class Server:
    """Runs ``script`` for each connection; counts connections and keeps every request it read."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_client = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request

    async def until_client_leaves(self, reader: asyncio.StreamReader) -> None:
        if not await reader.read(1):
            self.closed_by_client.set()


def answering(*answers: bytes, then: Script | None = None) -> Script:
    """A script that reads a request and writes the next answer, for each answer, on one connection; then runs
    ``then``, or waits for the client to leave."""

    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            await server.read_request(reader)
            writer.write(answer)
            await writer.drain()
        await (then or _wait_for_eof)(server, reader, writer)

    return script


async def _wait_for_eof(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await server.until_client_leaves(reader)


async def running(script: Script, tls: ssl.SSLContext | None = None) -> tuple[Server, int, asyncio.Server]:
    server = Server(script)
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    return server, listener.sockets[0].getsockname()[1], listener


def json_answer(body: bytes) -> bytes:
    return JSON_HEAD % len(body) + body


async def test_answers_come_over_one_kept_alive_connection() -> None:
    server, port, listener = await running(answering(json_answer(b'{"n": 1}'), json_answer(b'{"n": 2}')))
    async with UpstreamPool(8) as pool, listener:
        url = f"http://127.0.0.1:{port}/v1/chat/completions?api-version=1"
        for n in (1, 2):
            answer = await pool.post(url, {"Authorization": "Bearer k"}, b'{"q": 1}', PATIENT)
            assert (answer.status, answer.headers["content-type"]) == (200, "application/json")
            assert await answer.read() == b'{"n": %d}' % n
            answer.release()
    assert server.connections == 1
    head = server.requests[0].split(b"\r\n")
    assert head[0] == b"POST /v1/chat/completions?api-version=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{port}".encode() in head
    assert b"Authorization: Bearer k" in head and b"Content-Length: 8" in head
    assert server.requests[0].endswith(b'\r\n\r\n{"q": 1}')


async def test_a_chunked_stream_is_read_as_it_arrives() -> None:
    sent_second = asyncio.Event()
    read_first = asyncio.Event()

    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"8\r\ndata: 1\n\r\n")
        await writer.drain()
        await read_first.wait()
        writer.write(b"8\r\ndata: 2\n\r\n0\r\n\r\n")
        await writer.drain()
        sent_second.set()
        await reader.read()

    _, port, listener = await running(script)
    async with UpstreamPool(8) as pool, listener:
        answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
        chunks = []
        async for chunk in answer.chunks():
            chunks.append(chunk)
            assert sent_second.is_set() == (len(chunks) > 1)
            read_first.set()
        answer.release()
    assert chunks == [b"data: 1\n", b"data: 2\n"]


async def test_gzip_answers_are_decompressed() -> None:
    packed = gzip.compress(b'{"text": "' + b"x" * 5000 + b'"}')
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed)
    server, port, listener = await running(answering(head + packed))
    async with UpstreamPool(8) as pool, listener:
        answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
        assert await answer.read() == b'{"text": "' + b"x" * 5000 + b'"}'
        answer.release()
    assert b"Accept-Encoding: gzip, deflate" in server.requests[0]


async def test_an_answer_that_ends_with_the_connection_is_whole_and_the_connection_not_reused() -> None:
    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":')
        await writer.drain()
        writer.write(b" 1}")
        await writer.drain()

    server, port, listener = await running(script)
    async with UpstreamPool(8) as pool, listener:
        for _ in range(2):
            answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
            assert await answer.read() == b'{"a": 1}'
            answer.release()
    assert server.connections == 2


async def test_an_answer_cut_before_its_length_raises_upstream_cut() -> None:
    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(JSON_HEAD % 100 + b'{"partial"')
        await writer.drain()

    _, port, listener = await running(script)
    async with UpstreamPool(8) as pool, listener:
        answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
        received = []
        with pytest.raises(UpstreamCut):
            async for chunk in answer.chunks():
                received.append(chunk)
        answer.release()
    assert b"".join(received) == b'{"partial"'


async def test_a_silent_provider_times_out_before_and_during_its_answer() -> None:
    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await server.read_request(reader)
        if b"during" in request:
            writer.write(JSON_HEAD % 100 + b"{")
            await writer.drain()
        await reader.read()

    _, port, listener = await running(script)
    async with UpstreamPool(8) as pool, listener:
        with pytest.raises(TimeoutError):
            await pool.post(f"http://127.0.0.1:{port}/", {}, b"before", Timeouts(5, first_byte=0.2, idle=5))
        answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"during", Timeouts(5, 5, idle=0.2))
        with pytest.raises(TimeoutError):
            await answer.read()
        answer.release()


async def test_a_slow_reader_is_not_taken_for_a_silent_provider() -> None:
    _, port, listener = await running(answering(json_answer(b'{"n": 1}')))
    async with UpstreamPool(8) as pool, listener:
        answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", Timeouts(5, 5, idle=0.1))
        await asyncio.sleep(0.3)
        assert await answer.read() == b'{"n": 1}'
        answer.release()


async def test_an_answer_left_before_its_end_closes_the_connection() -> None:
    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await server.until_client_leaves(reader)

    server, port, listener = await running(script)
    async with UpstreamPool(8) as pool, listener:
        answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
        async for chunk in answer.chunks():
            assert chunk == b"hello"
            break
        answer.release()
        await asyncio.wait_for(server.closed_by_client.wait(), 5)


async def test_a_kept_alive_connection_the_provider_closed_is_replaced_once() -> None:
    async def hang_up(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)  # read the second request, then close without answering

    first = answering(json_answer(b'{"n": 1}'), then=hang_up)
    later = answering(json_answer(b'{"n": 2}'))

    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await (first if server.connections == 1 else later)(server, reader, writer)

    server, port, listener = await running(script)
    async with UpstreamPool(8) as pool, listener:
        for n in (1, 2):
            answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
            assert await answer.read() == b'{"n": %d}' % n
            answer.release()
    assert server.connections == 2
    assert len(server.requests) == 3


async def test_a_new_connection_closed_without_an_answer_is_not_retried() -> None:
    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)

    server, port, listener = await running(script)
    async with UpstreamPool(8) as pool, listener:
        with pytest.raises(UpstreamCut):
            await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
    assert server.connections == 1


async def test_calls_past_the_limit_wait_for_a_connection() -> None:
    server, port, listener = await running(answering(json_answer(b"1"), json_answer(b"2"), json_answer(b"3")))
    async with UpstreamPool(1) as pool, listener:

        async def call() -> bytes:
            answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
            await asyncio.sleep(0.05)
            try:
                return await answer.read()
            finally:
                answer.release()

        assert sorted(await asyncio.gather(call(), call(), call())) == [b"1", b"2", b"3"]
    assert server.connections == 1


async def test_a_refused_connection_raises_oserror_and_frees_its_place() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    async with UpstreamPool(1) as pool:
        for _ in range(2):
            with pytest.raises(OSError):
                await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)


async def test_a_header_with_a_line_break_is_refused() -> None:
    async with UpstreamPool(1) as pool:
        with pytest.raises(ValueError, match="line break"):
            await pool.post("http://127.0.0.1:9/", {"x-key": "a\r\nHost: elsewhere"}, b"{}", PATIENT)


async def test_https(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    _, port, listener = await running(answering(json_answer(b'{"tls": true}')), tls=serving)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with listener:
        async with UpstreamPool(8, ssl_context=trusting) as pool:
            answer = await pool.post(f"https://localhost:{port}/v1/messages", {}, b"{}", PATIENT)
            assert await answer.read() == b'{"tls": true}'
            answer.release()
        async with UpstreamPool(8) as pool:  # the system's trust store does not know that certificate
            with pytest.raises(ssl.SSLError):
                await pool.post(f"https://localhost:{port}/v1/messages", {}, b"{}", PATIENT)


async def test_at_the_limit_an_idle_connection_to_another_provider_makes_way() -> None:
    first, first_port, first_listener = await running(answering(json_answer(b"a")))
    _, second_port, second_listener = await running(answering(json_answer(b"b")))
    async with UpstreamPool(1) as pool, first_listener, second_listener:
        for port, expected in ((first_port, b"a"), (second_port, b"b")):
            answer = await asyncio.wait_for(pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT), 5)
            assert await answer.read() == expected
            answer.release()
        await asyncio.wait_for(first.closed_by_client.wait(), 5)


async def test_a_fast_provider_waits_for_a_slow_reader_and_no_byte_is_lost() -> None:
    """The connection stops reading while the reader is behind, so the provider cannot push 32 MB into the gateway's
    memory; every byte arrives once the reader catches up."""
    pieces = [bytes([65 + n % 26]) * 65536 for n in range(512)]
    all_sent = asyncio.Event()

    async def script(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        all_sent.set()
        await reader.read()

    _, port, listener = await running(script)
    async with UpstreamPool(8) as pool, listener:
        answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
        received = []
        async for chunk in answer.chunks():
            if not received:
                await asyncio.sleep(0.5)
                assert not all_sent.is_set()
            received.append(chunk)
        answer.release()
    assert b"".join(received) == b"".join(pieces)


async def test_informational_answers_are_passed_over() -> None:
    """A 103 Early Hints (as a CDN in front of a provider may send) comes before the answer itself."""
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    _, port, listener = await running(answering(hints + json_answer(b'{"n": 1}'), json_answer(b'{"n": 2}')))
    async with UpstreamPool(8) as pool, listener:
        for n in (1, 2):
            answer = await pool.post(f"http://127.0.0.1:{port}/", {}, b"{}", PATIENT)
            assert (answer.status, "link" in answer.headers) == (200, False)
            assert await answer.read() == b'{"n": %d}' % n
            answer.release()
