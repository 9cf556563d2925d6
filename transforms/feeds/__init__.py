"""Stage 1, feeds: configured sources → ``Entry`` items.

Public transforms: ``ReadFeeds`` (each source once: once mode and local cycles) and ``PollDueFeeds``
(ticks → the sources due at each tick: native streaming). The libraries beside them: ``reader`` (one
source and everything it leads to), ``parse`` (RSS/Atom/RDF/JSON Feed bytes → entries, safely),
``sitemaps``, ``discovery`` (feed links on HTML pages), ``state`` (per-feed validators and schedule,
persisted) and ``polling`` (when each feed is due next).
"""

from newsflow.transforms.feeds.poll_due_feeds import PollDueFeeds
from newsflow.transforms.feeds.read_feeds import ReadFeeds

__all__ = ["PollDueFeeds", "ReadFeeds"]
