"""Turn fetched bytes into text: the charset a browser would pick, in the order the web relies on."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels the WHATWG Encoding standard maps to a superset: pages labelled Latin-1 or ASCII use
# Windows-1252 punctuation, pages labelled EUC-KR use the UHC (cp949) extension.
_SUPERSETS = {
    "latin_1": "cp1252", "ascii": "cp1252", "iso8859_1": "cp1252",
    "euc_kr": "cp949", "gb2312": "gb18030", "gbk": "gb18030", "iso8859_9": "cp1254",
    "tis_620": "cp874", "iso8859_11": "cp874",
}
_SNIFF_BYTES = 4096
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([\w.:+-]+)["']""", re.I)


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label (WHATWG supersets applied), or None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    name = name.replace("-", "_")
    return _SUPERSETS.get(name, codecs.lookup(name).name)


def header_charset(content_type_header: str | None) -> str | None:
    """The charset parameter of a Content-Type header value."""
    match = _HEADER_CHARSET.search(content_type_header or "")
    return match.group(1) if match else None


def declared_charset(body: bytes) -> str | None:
    """The charset the document declares in its first 4 KB: XML prolog or ``<meta>``."""
    head = body[:_SNIFF_BYTES]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    if not match:
        return None
    label = match.group(1).decode("ascii", "replace")
    # A document read as ASCII bytes cannot really be UTF-16/32; browsers take UTF-8 then.
    return "utf-8" if label.lower().replace("_", "-").startswith(("utf-16", "utf-32")) else label


def _bom(body: bytes) -> tuple[str, int] | None:
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, len(bom)
    return None


def _try(body: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


_CP1252_MARGIN = 0.2
"""How much more "chaos" than the best guess Windows-1252 may score and still be preferred."""


def _guess(sample: bytes) -> str | None:
    """charset-normalizer's guess, preferring Windows-1252 (the web's legacy default) when it fits
    about as well: on short Western text the detector often picks a Baltic or Central-European
    page whose letters differ only where it matters."""
    matches = from_bytes(sample)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if codec_for(match.encoding) == "cp1252" and match.chaos <= best.chaos + _CP1252_MARGIN:
            return "cp1252"
    return codec_for(best.encoding)


def decode_body(body: bytes, content_type_header: str | None) -> tuple[str, str]:
    """Decode a response body; returns ``(text, encoding)`` with a Python codec name.

    Order: byte-order mark; the HTTP header charset; ``<meta charset>``, ``<meta http-equiv>`` or
    the XML prolog; valid UTF-8; charset-normalizer's guess. A declared charset that the bytes
    do not fit is passed over; if nothing fits, the first declared (else cp1252) decodes with
    replacement characters, so the result is always text.
    """
    bom = _bom(body)
    if bom is not None:
        codec, size = bom
        return body[size:].decode(codec, errors="replace"), codec
    declared = [codec_for(header_charset(content_type_header)), codec_for(declared_charset(body))]
    for label in declared:
        text = _try(body, label)
        if text is not None and label is not None:
            return text, label
    utf8 = _try(body, "utf-8")
    if utf8 is not None:
        return utf8, "utf-8"
    guessed = _guess(body[:65536])
    guessed_text = _try(body, guessed)
    if guessed_text is not None and guessed is not None:
        return guessed_text, guessed
    fallback = next((codec for codec in declared if codec), "cp1252")
    return body.decode(fallback, errors="replace"), fallback
