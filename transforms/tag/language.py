"""The language of an article from its text, checked against what the page or feed declares.

Pages often declare no language, or a wrong one (a CMS template's ``lang="en"`` on a Russian story),
and the tagger picks its place names and topic terms by language, so the declaration alone is not
trusted. The identifier is py3langid (BSD; a naive Bayes model over byte n-grams that ships inside its
wheel, so nothing is fetched at run time). A declaration is kept unless the text contradicts it
clearly: the sample must have enough letters and the identifier must give the declared language
almost no chance (asking how likely the declaration is, rather than how sure the top guess is, also
catches one-sentence texts and texts in scripts with few letters per word); a declaration of a close
sibling (Bosnian for Croatian, Malay for Indonesian) is never overridden, since the identifier is least
reliable between exactly those languages.
"""

from __future__ import annotations

import functools

SAMPLE_CHARS = 320
"""Chars of title and body that are identified: enough for near-certain answers on news prose, short
enough to keep identification a small share of tagging time."""
MIN_LETTERS = 12
FILL_MIN_CONFIDENCE = 0.5
"""An undeclared text gets the identified language when the sample has this many letters and the
identifier is this sure (a two-word caption is left without a language); below this many letters a
declaration is never questioned."""
OVERRIDE_MAX_DECLARED_PROBABILITY = 0.01
"""A declaration is replaced only when a sample of ``MIN_LETTERS`` letters or more gives the
declared language less than this probability (and another language is the identifier's first
choice): a one-line Chinese headline is enough, "OK, Video" is not."""

_SIBLINGS = (frozenset({"hr", "sr", "bs", "sh", "me"}), frozenset({"id", "ms"}),
             frozenset({"no", "nb", "nn", "da"}), frozenset({"cs", "sk"}), frozenset({"fa", "prs", "tg"}),
             frozenset({"gl", "pt"}), frozenset({"ca", "oc"}),
             frozenset({"ur", "hi"}), frozenset({"af", "nl"}), frozenset({"be", "ru", "uk"}),
             frozenset({"ar", "arz", "ary"}))
"""Languages the identifier confuses with each other, and pages legitimately declare either of."""


@functools.cache
def _identifier():
    """py3langid's identifier with normalised probabilities, loaded once per process (~1 s)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def load_identifier() -> None:
    """Load the model now (in a DoFn's setup) rather than inside the first article."""
    _identifier()


def _sample(title: str | None, body: str) -> str:
    text = f"{title}. {body}" if title else body
    return text[:SAMPLE_CHARS]


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


MACROLANGUAGE = {"wuu": "zh", "yue": "zh"}
"""Identifier codes recorded as their ISO 639 macrolanguage: py3langid splits written Chinese into
Mandarin, Wu and Cantonese by a few characters, and news in any of them is written Chinese."""


def _probabilities(text: str) -> dict[str, float]:
    """Language → probability of ``text``, with macrolanguage members folded into their macrolanguage."""
    out: dict[str, float] = {}
    for lang, prob in _identifier().rank(text):
        code = MACROLANGUAGE.get(str(lang), str(lang))
        out[code] = out.get(code, 0.0) + float(prob)
    return out


def identify(text: str) -> tuple[str, float]:
    """(ISO 639-1 code, probability) of ``text`` as py3langid sees it."""
    lang, probabilities = _ranked(text)
    return lang, probabilities[lang]


def identify_against(text: str, declared: str) -> tuple[str, float]:
    """(the identifier's first choice, the probability it gives ``declared``) for ``text``."""
    lang, probabilities = _ranked(text)
    return lang, probabilities.get(declared, 0.0)


def _ranked(text: str) -> tuple[str, dict[str, float]]:
    probabilities = _probabilities(text)
    return max(probabilities, key=probabilities.__getitem__), probabilities


def _siblings(a: str, b: str) -> bool:
    return any(a in group and b in group for group in _SIBLINGS)


def normalize_declared(language: str | None) -> str | None:
    """``en-US`` / ``EN`` → ``en``; anything that is not a 2-3 letter primary subtag → None."""
    if not language:
        return None
    primary = language.strip().replace("_", "-").split("-")[0].lower()
    return primary if 2 <= len(primary) <= 3 and primary.isalpha() else None


def resolve_language(declared: str | None, title: str | None, body: str) -> str | None:
    """The language to record: the declaration unless the text clearly says otherwise, else (nothing
    declared) the identified language when the identifier is fairly sure."""
    declared = normalize_declared(declared)
    sample = _sample(title, body or "")
    letters = _letters(sample)
    if declared is None:
        if letters < MIN_LETTERS:
            return None
        lang, prob = identify(sample)
        return lang if prob >= FILL_MIN_CONFIDENCE else None
    if letters < MIN_LETTERS:
        return declared
    lang, declared_prob = identify_against(sample, declared)
    if lang != declared and declared_prob < OVERRIDE_MAX_DECLARED_PROBABILITY and not _siblings(lang, declared):
        return lang
    return declared
