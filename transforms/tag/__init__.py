"""Stage 5, tag: IPTC Media Topics and countries (ISO 3166-1, rolled up to UN M49 regions).

Public transform: ``TagArticles``. The libraries beside it: ``tag_articles`` (``tag_text``, the pure
tagger), ``topics`` (the IPTC lexicon), ``gazetteer`` (place names → countries) and ``slugs`` (the
closed partition vocabulary).
"""

from newsflow.transforms.tag.tag_articles import TagArticles

__all__ = ["TagArticles"]
