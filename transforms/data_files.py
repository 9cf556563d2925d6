"""The tables shipped in ``newsflow/transforms/data/`` (their sources and licences: ``data/SOURCES.md``)."""

from __future__ import annotations

from importlib import resources


def read_data(name: str) -> str:
    """The text of one bundled table, read through the installed package (wheel or editable alike)."""
    return resources.files("newsflow.transforms").joinpath("data", name).read_text(encoding="utf-8")
