"""The pipeline's stages, one sub-package each, in the order data flows:

``feeds`` → ``fetch`` → ``extract`` → ``dedup`` → ``tag`` → ``write``; every stage's failures and skips
are ``Rejection`` items on its ``rejected`` output, written to the dead-letter dataset.

Shared by all stages: ``items`` (the in-flight record types), ``urls`` (URL identity), ``storage``
(file helpers for local and ``gs://`` roots), ``failures`` (per-element failure capture) and
``progress`` (log lines while a run goes).
"""
