"""The guarded transport: every connection resolves, checks and connects to one vetted address,
with connect, read and total deadlines."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from newsflow.transforms.fetch.netguard import (
    IPNetwork,
    resolve_checked,
)


class TotalTimeout(Exception):
    pass


class DnsError(Exception):
    """Host lookup failed; ``transient`` when the resolver said try again."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class Deadline(threading.local):
    """The total-timeout deadline (time.monotonic) of the request running on this thread."""

    at: float | None = None


def _clamp(deadline: Deadline, timeout: float | None, error: type[Exception]) -> float | None:
    """The socket timeout that still ends by the deadline; ``error`` once it has passed."""
    if deadline.at is None:
        return timeout
    remaining = deadline.at - time.monotonic()
    if remaining <= 0:
        raise error("total timeout exceeded")
    return remaining if timeout is None else min(timeout, remaining)


class DeadlineStream(httpcore.NetworkStream):
    """Clamps every socket read and write to the request's total deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def _clamp(self, timeout: float | None, error: type[Exception]) -> float | None:
        return _clamp(self._deadline, timeout, error)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname,
                                      self._clamp(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves each host itself, connects only to addresses the SSRF guard allows (pinned, so a
    second DNS answer cannot differ), and wraps streams with the total deadline."""

    def __init__(self, allowed: tuple[IPNetwork, ...], trusted: frozenset[tuple[str, int]],
                 deadline: Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._allowed = allowed
        self._trusted = trusted
        self._deadline = deadline

    def _addresses(self, host: str, port: int) -> list[str]:
        try:
            if (host.lower(), port) in self._trusted:
                return [host]
            return resolve_checked(host, port, self._allowed)
        except socket.gaierror as exc:
            raise DnsError(f"cannot resolve {host!r}: {exc}", transient=exc.errno == socket.EAI_AGAIN) from exc

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self._addresses(host, port):
            try:
                stream = self._inner.connect_tcp(
                    address, port, _clamp(self._deadline, timeout, httpcore.ConnectTimeout),
                    local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return DeadlineStream(stream, self._deadline)
        raise last_error or httpcore.ConnectError(f"no address to connect to for {host!r}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


