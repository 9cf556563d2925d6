"""Load the feed list: a YAML file or an OPML 1.0/2.0 file, validated before any pipeline starts.

YAML::

    feeds:
      - url: https://news.example.org/rss.xml
        name: Example News          # optional
        tags: [asia, defence]        # optional
        region_hint: KR              # optional ISO 3166-1 alpha-2, a weak prior for the tagger
        options: {max_entries: 50}   # optional per-feed options

A bare list of entries (or of URL strings) is accepted too. OPML: every ``outline`` with an ``xmlUrl``,
nested outlines included; a feed listed twice is merged (tags united, first name kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pycountry
import yaml
from defusedxml import ElementTree as SafeET

from newsflow.transforms.items import FeedSpec

KNOWN_KEYS = {"url", "name", "tags", "region_hint", "options"}
KNOWN_OPTIONS = {"max_entries", "kind"}


class ConfigError(ValueError):
    """A config problem, naming the file, the entry or line, and what is wrong."""

    def __init__(self, path: str, where: str, problem: str):
        super().__init__(f"{path}: {where}: {problem}")
        self.path, self.where, self.problem = path, where, problem


def _check_url(path: str, where: str, url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(path, where, "url is missing or not a string")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(path, where, f"url {url!r} is not an absolute http(s) URL")
    return url.strip()


def _check_region(path: str, where: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or pycountry.countries.get(alpha_2=value.upper()) is None:
        raise ConfigError(path, where, f"region_hint {value!r} is not an ISO 3166-1 alpha-2 code")
    return value.upper()


def _yaml_entry(path: str, index: int, raw: Any, line: int | None) -> FeedSpec:
    where = f"feeds[{index}]" + (f" (line {line})" if line else "")
    if isinstance(raw, str):
        return FeedSpec(url=_check_url(path, where, raw))
    if not isinstance(raw, dict):
        raise ConfigError(path, where, f"expected a mapping or a URL string, got {type(raw).__name__}")
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise ConfigError(path, where, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(KNOWN_KEYS)}")
    tags = raw.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(path, where, "tags must be a list of strings")
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError(path, where, "options must be a mapping")
    bad_options = set(options) - KNOWN_OPTIONS
    if bad_options:
        raise ConfigError(path, where, f"unknown option(s) {sorted(bad_options)}; allowed: {sorted(KNOWN_OPTIONS)}")
    max_entries = options.get("max_entries")
    if max_entries is not None and (not isinstance(max_entries, int) or max_entries < 1):
        raise ConfigError(path, where, "options.max_entries must be a positive integer")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(path, where, "name must be a string")
    return FeedSpec(url=_check_url(path, where, raw.get("url")), name=name, tags=tuple(tags),
                    region_hint=_check_region(path, where, raw.get("region_hint")),
                    options=tuple(sorted(options.items())))


def _entry_lines(text: str) -> list[int | None]:
    """1-based line of each item of the feed list, for error messages."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if getattr(k, "value", None) == "feeds"), None)
    if isinstance(node, yaml.SequenceNode):
        return [item.start_mark.line + 1 for item in node.value]
    return []


def load_yaml(path: str, text: str) -> list[FeedSpec]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        raise ConfigError(path, where, f"invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    if isinstance(data, dict):
        if "feeds" not in data:
            raise ConfigError(path, "top level", "expected a 'feeds' list")
        data = data["feeds"]
    if not isinstance(data, list) or not data:
        raise ConfigError(path, "feeds", "expected a non-empty list of feeds")
    lines = _entry_lines(text)
    return merge([_yaml_entry(path, i, raw, lines[i] if i < len(lines) else None) for i, raw in enumerate(data)])


def load_opml(path: str, text: str) -> list[FeedSpec]:
    try:
        root = SafeET.fromstring(text.encode("utf-8"))
    except Exception as exc:
        position = getattr(exc, "position", None)
        where = f"line {position[0]}" if position else "file"
        raise ConfigError(path, where, f"invalid OPML: {exc}") from exc
    if root.tag != "opml" or root.find("body") is None:
        raise ConfigError(path, "top level", "expected <opml> with a <body>")
    specs: list[FeedSpec] = []

    def walk(node: Any, trail: tuple[str, ...]) -> None:
        for index, outline in enumerate(node.findall("outline")):
            label = outline.get("title") or outline.get("text")
            url = outline.get("xmlUrl")
            if url:
                where = f"outline {'/'.join((*trail, label or str(index)))}"
                specs.append(FeedSpec(url=_check_url(path, where, url), name=label, tags=trail))
            walk(outline, (*trail, label) if (label and not url) else trail)

    walk(root.find("body"), ())
    if not specs:
        raise ConfigError(path, "body", "no outline with an xmlUrl")
    return merge(specs)


def merge(specs: Iterable[FeedSpec]) -> list[FeedSpec]:
    """Merge feeds listed more than once (same URL after normalisation): tags united, first name kept."""
    from newsflow.transforms.urls import normalize_url

    merged: dict[str, FeedSpec] = {}
    for spec in specs:
        key = normalize_url(spec.url)
        if key in merged:
            first = merged[key]
            tags = tuple(dict.fromkeys((*first.tags, *spec.tags)))
            merged[key] = FeedSpec(first.url, first.name or spec.name, tags,
                                   first.region_hint or spec.region_hint, first.options or spec.options)
        else:
            merged[key] = spec
    return list(merged.values())


def read_config_text(path: str) -> str:
    """The config file's text: a local path, or any Beam filesystem URL (gs://...) via FileSystems."""
    if "://" in path:
        from apache_beam.io.filesystems import FileSystems

        if not FileSystems.exists(path):
            raise ConfigError(path, "file", "not found")
        with FileSystems.open(path) as handle:
            return handle.read().decode("utf-8-sig")
    file = Path(path)
    if not file.is_file():
        raise ConfigError(path, "file", "not found")
    return file.read_text(encoding="utf-8-sig")


def load_config(path: str) -> list[FeedSpec]:
    """Load a YAML or OPML feed list from a local path or a gs:// URL (read through Beam's FileSystems)."""
    text = read_config_text(path)
    suffix = PurePosixPath(path).suffix.lower() if "://" in path else Path(path).suffix.lower()
    looks_opml = suffix in (".opml", ".xml") or text.lstrip().startswith("<")
    return load_opml(path, text) if looks_opml else load_yaml(path, text)
