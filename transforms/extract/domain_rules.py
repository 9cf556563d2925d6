"""Per-site extraction rules: the hook for sites the general extractor gets wrong.

A ``DomainRule`` is looked up by the page's site (its host without ``www.``, or any parent domain)
and applied around trafilatura: ``remove`` nodes are pruned from the tree before extraction,
``body`` (when it matches) replaces the extracted body, ``date`` supplies the publication date
ahead of meta tags and htmldate. Selectors are XPath expressions (lxml has no CSS engine here).
The default set is empty: rules are added where a site is known to need one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lxml.etree import XPath, XPathError
from lxml.html import HtmlElement


@dataclass(frozen=True)
class DomainRule:
    """XPath selectors for one site: nodes to remove, the body container, the date element."""

    remove: tuple[str, ...] = ()
    body: str | None = None
    date: str | None = None

    def __post_init__(self) -> None:
        for expression in (*self.remove, self.body, self.date):
            if expression is None:
                continue
            try:
                XPath(expression)
            except XPathError as exc:
                raise ValueError(f"invalid XPath in DomainRule: {expression!r}: {exc}") from exc


DEFAULT_RULES: dict[str, DomainRule] = {}
"""The registry ``register_rule`` adds to and ``extract_page`` consults by default."""


def register_rule(site: str, rule: DomainRule, rules: dict[str, DomainRule] | None = None) -> None:
    """Register ``rule`` for ``site`` (and its subdomains) in ``rules`` (default: DEFAULT_RULES)."""
    target = DEFAULT_RULES if rules is None else rules
    target[site.lower().removeprefix("www.")] = rule


def rule_for(site: str, rules: Mapping[str, DomainRule] | None = None) -> DomainRule | None:
    """The rule of ``site`` or of its nearest registered parent domain, else None."""
    table = DEFAULT_RULES if rules is None else rules
    if not table:
        return None
    host = site.lower().removeprefix("www.")
    while host:
        if host in table:
            return table[host]
        _, _, host = host.partition(".")
    return None


def prune(tree: HtmlElement, rule: DomainRule) -> int:
    """Remove the rule's ``remove`` nodes from ``tree`` in place (keeping their tails); the count."""
    removed = 0
    for expression in rule.remove:
        for node in tree.xpath(expression):
            if isinstance(node, HtmlElement) and node.getparent() is not None:
                node.drop_tree()
                removed += 1
    return removed


def select_text(tree: HtmlElement, expression: str | None) -> str | None:
    """The text of the first node (or string result) ``expression`` selects, paragraphs kept."""
    if not expression:
        return None
    found = tree.xpath(expression)
    if isinstance(found, str):
        return found.strip() or None
    for node in found if isinstance(found, list) else []:
        if isinstance(node, str):
            text = node.strip()
        elif isinstance(node, HtmlElement):
            blocks = [b.text_content().strip() for b in node.iter("p", "h2", "h3", "h4", "li", "blockquote")]
            text = "\n".join(b for b in blocks if b) or node.text_content().strip()
        else:
            continue
        if text:
            return text
    return None
