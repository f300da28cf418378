"""DeadlineSource: what gunicorn's parser reads a request through, against one deadline
per phase (the served behaviour is in test_hostile_input.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from emulator.serving.request_deadline import DeadlineSource


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def trickle(sock: socket.socket, every: float, count: int) -> threading.Thread:
    def send() -> None:
        for _ in range(count):
            time.sleep(every)
            try:
                sock.sendall(b"x")
            except OSError:
                return
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def read_until_error(source: DeadlineSource) -> tuple[BaseException, float]:
    started = time.monotonic()
    while True:
        try:
            source.recv(100)
        except OSError as exc:
            return exc, time.monotonic() - started


def test_headers_that_trickle_in_are_cut_at_the_deadline_with_a_408(
        pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    source = DeadlineSource(server, head_seconds=0.5, body_seconds=5)
    source.expect_head()
    client.sendall(b"POST / HTTP/1.1\r\n")
    trickle(client, 0.1, 30)
    exc, took = read_until_error(source)
    assert isinstance(exc, ConnectionResetError)  # gunicorn closes it quietly
    assert 0.4 < took < 1.0
    client.settimeout(1)
    answer = client.recv(1000)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"request headers not received within 0.5 s\n")
    assert server.gettimeout() is None  # the socket is left as gunicorn expects it


def test_a_body_that_trickles_in_times_out_for_the_pipeline_to_answer(
        pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    source = DeadlineSource(server, head_seconds=5, body_seconds=0.5)
    source.expect_body()
    trickle(client, 0.1, 30)
    exc, took = read_until_error(source)
    assert type(exc) is TimeoutError and "body not received within 0.5 s" in str(exc)
    assert 0.4 < took < 1.0
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recv(100)  # nothing sent: the SOAP pipeline answers a body's 408 itself


def test_the_head_deadline_starts_with_the_first_read_and_idle_reads_have_none(
        pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    source = DeadlineSource(server, head_seconds=0.3, body_seconds=0.3)
    source.expect_head()
    time.sleep(0.4)  # before the first byte: not counted
    client.sendall(b"GET")
    assert source.recv(10) == b"GET"
    source.idle()
    time.sleep(0.4)
    client.sendall(b"more")
    assert source.recv(10) == b"more"


def test_a_shorter_timeout_set_by_the_caller_still_applies(
        pair: tuple[socket.socket, socket.socket]) -> None:
    server, _client = pair
    source = DeadlineSource(server, head_seconds=5, body_seconds=5)
    source.expect_body()
    server.settimeout(0.2)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        source.recv(10)
    assert time.monotonic() - started < 1.0
    assert "body not received" not in str(caught.value)  # the caller's own timeout
    assert server.gettimeout() == 0.2
