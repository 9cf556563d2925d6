"""Stage 3, extract: ``Page`` → ``Article`` (clean body, title, authors, dates, language, partial flag).

Public transform: ``ExtractArticles``. The libraries beside it: ``page`` (``extract_page``: one HTML
page → its body and metadata, through trafilatura), ``metadata`` (JSON-LD, meta tags, dates) and
``domain_rules`` (per-site overrides).
"""

from newsflow.transforms.extract.extract_articles import ExtractArticles

__all__ = ["ExtractArticles"]
