"""Stage 2, fetch: ``Entry`` → ``Page`` (the decoded HTML of the entry's link).

Public transform: ``FetchPages``. The libraries beside it: ``client`` (``HttpClient``, the one client
every stage fetches with), ``transport`` (SSRF-guarded connections and deadlines), ``decoding``
(decompression under a byte cap), ``media`` (media types), ``backoff`` (retries), ``charset``
(bytes → text), ``netguard`` (which addresses may be reached), ``politeness`` (per-host gate) and
``robots`` (robots.txt rules and cache).
"""

from newsflow.transforms.fetch.fetch_pages import FetchPages

__all__ = ["FetchPages"]
