"""Media types of responses: what a fetch of each kind keeps, and a sniffer for when none is sent."""

from __future__ import annotations

from typing import Literal

FetchKind = Literal["page", "feed", "robots", "any"]


def media_type(content_type_header: str | None) -> str | None:
    """``Text/HTML; charset=x`` → ``text/html``; None when absent or empty."""
    if not content_type_header:
        return None
    value = content_type_header.split(";", 1)[0].strip().lower()
    return value or None


def is_html(media: str) -> bool:
    return media in ("text/html", "application/xhtml+xml")


def is_xml(media: str) -> bool:
    return media in ("application/xml", "text/xml") or media.endswith("+xml")


def is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def is_textual(media: str) -> bool:
    return media.startswith("text/") or is_html(media) or is_xml(media) or is_json(media)


def accepts(kind: FetchKind, media: str) -> bool:
    """Whether a fetch of ``kind`` keeps a response of media type ``media``."""
    if kind == "page":
        return is_html(media)
    if kind == "feed":
        return (media.startswith("text/") or is_xml(media) or is_json(media)
                or media in ("application/rss", "application/atom", "application/x-rss"))
    return True


def sniff_media_type(body: bytes) -> str:
    """A media type for a response without Content-Type, from its first bytes."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head or b"<body" in head:
        return "text/html"
    if head.startswith((b"<?xml", b"<rss", b"<feed", b"<rdf")):
        return "application/xml"
    if head.startswith((b"{", b"[")):
        return "application/json"
    return "application/octet-stream"


