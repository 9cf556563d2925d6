"""Storage helpers for local paths and ``gs://`` alike, through Beam FileSystems: every module that
reads or writes files under the output root (datasets, state, manifests) goes through these."""

from __future__ import annotations

import posixpath

from apache_beam.io.filesystems import FileSystems


def join(root: str, *parts: str) -> str:
    """Join path parts under a local or ``scheme://`` root with forward slashes."""
    return posixpath.join(root.rstrip("/"), *parts) if "://" in root else posixpath.join(root, *parts)


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path) as handle:
        handle.write(data)


def read_text(path: str) -> str:
    with FileSystems.open(path) as handle:
        return handle.read().decode("utf-8")


def move(source: str, destination: str) -> None:
    if "://" not in destination:
        import os

        os.makedirs(os.path.dirname(destination), exist_ok=True)
    FileSystems.rename([source], [destination])


def matching(pattern: str) -> list[str]:
    """Paths matching a glob; none when nothing matches (on GCS a folder is only a name prefix, so
    match by pattern rather than asking whether the folder exists)."""
    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def delete_folder(folder: str) -> None:
    """Delete everything under ``folder`` (local folders recursively, GCS by prefix); absent is fine."""
    if "://" in folder:
        if matching(join(folder, "**")):
            FileSystems.delete([folder.rstrip("/") + "/"])
    elif FileSystems.exists(folder):
        FileSystems.delete([folder])
