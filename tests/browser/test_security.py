"""The Content-Security-Policy the site is served with, and pages that need
no inline script to keep to it."""

from __future__ import annotations

import urllib.request
from html.parser import HTMLParser

import pytest

pytestmark = pytest.mark.browser


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        if words := part.split():
            parsed[words[0]] = words[1:]
    return parsed


class InlineScriptFinder(HTMLParser):
    """Collects inline <script> bodies, src-less scripts and on* handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs) -> None:
        names = dict(attrs)
        for name, _ in attrs:
            if name.lower().startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
        if tag == "script":
            self._in_script = True
            if not names.get("src"):
                self.found.append("<script> without src")
        for name in ("href", "src", "action", "formaction"):
            if (names.get(name) or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")

    def handle_endtag(self, tag) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data) -> None:
        if self._in_script and data.strip():
            self.found.append(f"inline script: {data.strip()[:60]!r}")


def test_the_policy_allows_no_inline_or_evaluated_script(site, site_url):
    for page in sorted(site.dist.glob("*.html")):
        with urllib.request.urlopen(f"{site_url}/{page.name}", timeout=10) as answer:
            policy = answer.headers["Content-Security-Policy"]
        assert policy, f"{page.name} is served without a policy"
        rules = directives(policy)
        scripts = rules.get("script-src", rules.get("default-src"))
        assert scripts == ["'self'"], f"{page.name}: script-src {scripts}"
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        assert rules["object-src"] == ["'none'"]
        assert rules["frame-ancestors"] == ["'none'"]
        assert rules["base-uri"] == ["'self'"]


def test_no_built_page_carries_inline_script(site):
    pages = sorted(site.dist.glob("*.html"))
    assert len(pages) == 8

    found = {}
    for page in pages:
        finder = InlineScriptFinder()
        finder.feed(page.read_text(encoding="utf-8"))
        if finder.found:
            found[page.name] = finder.found
    assert not found, found
