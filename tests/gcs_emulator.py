"""A local Cloud Storage for tests: gcp-storage-emulator on a free 127.0.0.1 port, anonymous credentials.

``emulated_gcs(data_dir, monkeypatch)`` starts the emulator in a thread of the test process (so Beam's
FnApiRunner, which runs in-process, reaches it through ``STORAGE_EMULATOR_HOST``), creates the bucket,
and patches ``google.auth.default`` to anonymous credentials (without that, every process spends ~21 s
looking for credentials). Objects are stored on disk under ``data_dir``, so ``restart()`` after
``stop()`` serves what the emulator held when it stopped: a crash in the middle of a write can be
inspected afterwards. Nothing here reaches Google.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import google.auth
import pytest
from apache_beam.internal.gcp import auth as beam_auth
from apache_beam.io.gcp import gcsio_retry
from gcp_storage_emulator.server import Server, create_server
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client
from google.cloud.storage.retry import DEFAULT_RETRY

BUCKET = "newsflow-test"
PROJECT = "test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def anonymous_default(*_args: Any, **_kwargs: Any) -> tuple[AnonymousCredentials, str]:
    return AnonymousCredentials(), PROJECT


class GcsEmulator:
    """One emulator on a fixed port; objects persist on disk under ``data_dir`` across restarts."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self._server: Server | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            server = create_server("127.0.0.1", self.port, in_memory=False, data_dir=str(self.data_dir))
            server.start()
            self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self) -> Client:
        return Client(project=PROJECT, credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.endpoint})

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(name)

    def object_names(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(blob.name for blob in self.client().list_blobs(bucket, prefix=prefix))

    def read(self, bucket: str, name: str) -> bytes:
        return bytes(self.client().bucket(bucket).blob(name).download_as_bytes())

    def arrow_filesystem(self) -> Any:
        """A pyarrow GcsFileSystem on the emulator (paths are ``bucket/object``, no scheme)."""
        from pyarrow import fs

        return fs.GcsFileSystem(anonymous=True, endpoint_override=f"127.0.0.1:{self.port}", scheme="http",
                                retry_time_limit=timedelta(seconds=5))


def use_anonymous_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anonymous credentials for google-auth and for Beam's cached lookup."""
    monkeypatch.setattr(google.auth, "default", anonymous_default)
    monkeypatch.setattr(beam_auth._Credentials, "_credentials_init", False)
    monkeypatch.setattr(beam_auth._Credentials, "_credentials", None)


def short_gcs_retries(monkeypatch: pytest.MonkeyPatch, seconds: float = 2.0) -> None:
    """Give up on an unreachable GCS after ``seconds`` instead of the client's 120 s (failure tests)."""
    monkeypatch.setattr(gcsio_retry, "get_retry", lambda _options: DEFAULT_RETRY.with_timeout(seconds))


@contextmanager
def emulated_gcs(data_dir: Path, monkeypatch: pytest.MonkeyPatch, bucket: str = BUCKET) -> Iterator[GcsEmulator]:
    """A running emulator holding an empty ``bucket``, with the environment pointed at it."""
    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)
    emulator = GcsEmulator(data_dir)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator.endpoint)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    use_anonymous_credentials(monkeypatch)
    emulator.start()
    try:
        emulator.create_bucket(bucket)
        yield emulator
    finally:
        emulator.stop()
