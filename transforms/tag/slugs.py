"""The closed vocabulary of Hive partition values for topics and regions.

Partition folders must come from a fixed set so that a bad tag can never create a new folder:
every function here returns a value of ``TOPIC_SLUGS`` / ``REGION_SLUGS`` and nothing else.
"""

from __future__ import annotations

from newsflow.transforms.tag.topics import media_topics

UNKNOWN = "unknown"
"""No tag at all (None or empty input)."""
OTHER = "other"
"""A tag that is not in the table (a typo, a retired code, a region name from elsewhere)."""

TOPIC_SLUGS: dict[str, str] = {
    "medtop:01000000": "arts-culture-entertainment-media",
    "medtop:02000000": "crime-law-justice",
    "medtop:03000000": "disaster-accident-emergency",
    "medtop:04000000": "economy-business-finance",
    "medtop:05000000": "education",
    "medtop:06000000": "environment",
    "medtop:07000000": "health",
    "medtop:08000000": "human-interest",
    "medtop:09000000": "labour",
    "medtop:10000000": "lifestyle-leisure",
    "medtop:11000000": "politics-government",
    "medtop:12000000": "religion",
    "medtop:13000000": "science-technology",
    "medtop:14000000": "society",
    "medtop:15000000": "sport",
    "medtop:16000000": "conflict-war-peace",
    "medtop:17000000": "weather",
}
"""IPTC Media Topics top level → slug (second-level codes take their top level's slug)."""

REGION_SLUGS: dict[str, str] = {
    name: name.lower().replace(" ", "-").replace(",", "")
    for name in (
        "Australia and New Zealand", "Caribbean", "Central America", "Central Asia", "Eastern Africa",
        "Eastern Asia", "Eastern Europe", "Latin America and the Caribbean", "Melanesia", "Micronesia",
        "Middle Africa", "Northern Africa", "Northern America", "Northern Europe", "Polynesia",
        "South America", "South-eastern Asia", "Southern Africa", "Southern Asia", "Southern Europe",
        "Sub-Saharan Africa", "Western Africa", "Western Asia", "Western Europe",
    )
}
"""UN M49 sub-region (and intermediate region) names → slug."""

TOPIC_VOCABULARY = frozenset(TOPIC_SLUGS.values()) | {UNKNOWN, OTHER}
REGION_VOCABULARY = frozenset(REGION_SLUGS.values()) | {UNKNOWN, OTHER}


def topic_slug(code: str | None) -> str:
    """``medtop:11000000`` → ``politics-government``; a second-level code → its top level's slug
    (deeper codes are not in the shipped table and give ``other``);
    None or "" → ``unknown``; anything else → ``other``."""
    if not code or not isinstance(code, str):
        return UNKNOWN
    code = code.strip()
    if not code.startswith("medtop:"):
        code = "medtop:" + code
    if code in TOPIC_SLUGS:
        return TOPIC_SLUGS[code]
    topic = media_topics().get(code)
    if topic is not None and topic.top in TOPIC_SLUGS:
        return TOPIC_SLUGS[topic.top]
    return OTHER


def region_slug(subregion_name: str | None) -> str:
    """``Eastern Asia`` → ``eastern-asia``; None or "" → ``unknown``; a name not in M49 → ``other``."""
    if not subregion_name or not isinstance(subregion_name, str):
        return UNKNOWN
    wanted = " ".join(subregion_name.split()).casefold()
    for name, slug in REGION_SLUGS.items():
        if name.casefold() == wanted:
            return slug
    return OTHER
