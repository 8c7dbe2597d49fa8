"""Every catalog key the site's pages and scripts use exists in en.json.

A key missing from en.json reaches residents as its raw name (``t`` falls
back to the key itself), so this scans ``static_site/src`` for the keys it
uses: ``data-i18n``, ``data-i18n-attr`` and ``data-title-key`` in markup,
and in scripts every string literal shaped like a catalog key (a namespace
of en.json, a dot, a name), which covers ``t("…")``, ``setText(node, "…")``
and the tables of keys (status.js's ``ERROR_KEYS`` and the like) alike.
Template literals such as ``phase.${phase}`` must at least name a prefix
that en.json has keys under.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "static_site" / "src"
ENGLISH = json.loads((SRC / "i18n" / "en.json").read_text(encoding="utf-8"))
NAMESPACES = {key.split(".", 1)[0] for key in ENGLISH}
# File names look like keys ("ballot.html"); they are not catalog keys.
NOT_KEYS = re.compile(r"\.(html|js|json|css|svg|png|webmanifest|txt)$")
#: Literals shaped like keys that are not catalog keys, and keys a page shows
#: only when a catalog has them.
NOT_CATALOG = {
    "phase.change",  # a staff permission name (staff-dashboard.js)
    "results.ballot_hash",  # optional line: page-results.js hides it if absent
}
COMMENT = re.compile(r"/\*.*?\*/|(?<![:\"'\\])//[^\n]*", re.DOTALL)

HTML_KEY = re.compile(r'data-(?:i18n|title-key)="([^"]+)"')
HTML_ATTR_KEYS = re.compile(r'data-i18n-attr="([^"]+)"')
JS_LITERAL = re.compile(r"""(["'])([a-z][a-z0-9_-]*(?:\.[a-z0-9_]+)+)\1""")
JS_TEMPLATE = re.compile(r"`([a-z][a-z0-9_-]*\.)\$\{")


def site_files(pattern: str) -> list[Path]:
    return sorted(p for p in SRC.rglob(pattern) if "node_modules" not in p.parts)


def keys_in_html(text: str) -> set[str]:
    keys = set(HTML_KEY.findall(text))
    for pairs in HTML_ATTR_KEYS.findall(text):
        keys |= {pair.split(":", 1)[1] for pair in pairs.split(";") if ":" in pair}
    return keys


def keys_in_js(text: str) -> set[str]:
    return {
        key
        for _, key in JS_LITERAL.findall(text)
        if key.split(".", 1)[0] in NAMESPACES and not NOT_KEYS.search(key)
    }


def used_keys() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in site_files("*.html"):
        keys = keys_in_html(path.read_text(encoding="utf-8"))
        found[str(path.relative_to(SRC))] = keys
    for path in site_files("*.js"):
        text = COMMENT.sub("", path.read_text(encoding="utf-8"))
        found[str(path.relative_to(SRC))] = keys_in_js(text) | keys_in_html(text)
    return found


def test_the_scan_finds_the_keys_it_should() -> None:
    found = used_keys()
    assert "error.already_voted" in found["js/status.js"]
    assert "confirm.recorded" in found["confirmation.html"]
    assert "confirm.heading" in found["js/page-confirmation.js"]
    assert "ballot.none_chosen" in found["js/voter-form.js"]
    assert not any("ballot.html" in keys for keys in found.values())


@pytest.mark.parametrize("name", sorted(used_keys()))
def test_every_key_used_is_in_english(name: str) -> None:
    missing = sorted(used_keys()[name] - ENGLISH.keys() - NOT_CATALOG)
    assert not missing, f"{name} uses keys missing from en.json: {missing}"


@pytest.mark.parametrize("path", site_files("*.js"), ids=lambda p: p.name)
def test_template_keys_have_a_prefix_in_english(path: Path) -> None:
    prefixes = JS_TEMPLATE.findall(path.read_text(encoding="utf-8"))
    missing = [p for p in prefixes if not any(k.startswith(p) for k in ENGLISH)]
    assert not missing, f"{path.name}: no en.json keys under {missing}"
