"""URL normalisation and stable ids: the keys that exact dedup and record ids are built on."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from courlan import normalize_url as _courlan_normalize

TRACKING_PARAMS = frozenset({
    "cid", "eref", "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
    "_ga", "_gl", "ref", "ref_src", "ref_url", "cmpid", "ocid", "ito", "ns_mchannel", "ns_source",
    "ns_campaign", "ns_linkname", "ns_fee", "smid", "sr_share", "rss", "feed", "partner",
    "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
    "s_cid", "wt.mc_id", "wt_mc_id", "spm", "share", "soc_src", "soc_trk", "trk",
    "mkt_tok", "_hsenc", "_hsmi", "icid", "ncid", "xtor", "guccounter", "guce_referrer",
    "guce_referrer_sig", "ftag", "rss_id", "wt_mc",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "__hs", "oly_", "vero_")


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def normalize_url(url: str) -> str:
    """The comparable form of a URL: lower-case scheme and host, default port and fragment dropped,
    tracking parameters stripped, the remaining query sorted. Unparseable input comes back stripped."""
    url = url.strip()
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not is_tracking_param(k)])
    rebuilt = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
    try:
        normalized = _courlan_normalize(rebuilt)
    except ValueError:
        normalized = rebuilt
    return urlunsplit(urlsplit(normalized)._replace(fragment=""))


def site_of(url: str) -> str:
    """The publishing site: the host without a leading ``www.``."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def article_id(canonical_url: str) -> str:
    """A stable record id: the first 16 hex digits of sha256 over the normalised canonical URL."""
    return hashlib.sha256(normalize_url(canonical_url).encode("utf-8")).hexdigest()[:16]


def is_http_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host: the only kind the pipeline fetches."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def absolute_http_url(link: str | None, base: str) -> str | None:
    """``link`` resolved against ``base`` if the result is an http(s) URL, else None."""
    if not link or not link.strip():
        return None
    resolved = urljoin(base, link.strip())
    return resolved if is_http_url(resolved) else None


def host_key(url: str) -> str:
    """The politeness key of a URL: its lower-case host name (ports share the host's budget)."""
    return (urlsplit(url).hostname or "").lower()


def origin_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def without_fragment(url: str) -> str:
    """The identity of a URL for redirect-loop detection (fragment dropped)."""
    return url.split("#", 1)[0]


def same_page(a: str | None, b: str | None) -> bool:
    """Loose URL equality: scheme, ``www.``, query, fragment and a trailing slash ignored."""
    def key(url: str) -> str:
        rest = url.split("://", 1)[-1].split("#", 1)[0].split("?", 1)[0]
        return rest.removeprefix("www.").rstrip("/").lower()
    return bool(a and b) and key(a or "") == key(b or "")


def canonical_of(candidate: str | None, page_url: str) -> str | None:
    """The page's declared canonical URL made absolute, or None when it is missing, not http(s),
    or a site's front page declared on an article (a common template bug that would give every
    article of the site the same id)."""
    if not candidate:
        return None
    absolute = urljoin(page_url, candidate)
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https"):
        return None
    if parts.path in ("", "/") and not parts.query and urlsplit(page_url).path not in ("", "/"):
        return None
    return absolute
