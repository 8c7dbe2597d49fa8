"""The interface message catalogs: every language has exactly the English keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

I18N = Path(__file__).resolve().parents[2] / "static_site" / "src" / "i18n"
SOURCE = "en"
REQUIRED = {"en", "es", "ht", "vi", "zh-Hans", "pt", "kea"}

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Keys whose translation may legitimately equal the English text because the
# value is a proper noun. Empty today: every current string has a real
# translation in every language. Add a key here only with a comment saying why.
SAME_AS_ENGLISH_ALLOWED: frozenset[str] = frozenset()


def load(language: str) -> dict[str, str]:
    path = I18N / f"{language}.json"
    with path.open(encoding="utf-8") as handle:
        catalog = json.load(handle)
    assert isinstance(catalog, dict), f"{path.name}: top level is not an object"
    return catalog


def discovered() -> list[str]:
    return sorted(path.stem for path in I18N.glob("*.json"))


TRANSLATIONS = [language for language in discovered() if language != SOURCE]


def placeholders(value: str) -> set[str]:
    return set(PLACEHOLDER.findall(value))


def only_placeholders_or_punctuation(value: str) -> bool:
    """True when nothing translatable is left once placeholders are removed."""
    return not any(char.isalpha() for char in PLACEHOLDER.sub("", value))


@pytest.fixture(scope="module")
def english() -> dict[str, str]:
    return load(SOURCE)


def test_every_required_language_is_present() -> None:
    missing = REQUIRED - set(discovered())
    assert not missing, f"missing catalogs in {I18N}: {sorted(missing)}"


@pytest.mark.parametrize("language", discovered())
def test_values_are_non_empty_strings(language: str) -> None:
    bad = [
        key
        for key, value in load(language).items()
        if not isinstance(value, str) or not value.strip()
    ]
    assert not bad, f"{language}: empty or non-string values for {bad}"


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_keys_match_english(language: str, english: dict[str, str]) -> None:
    catalog = load(language)
    missing = [key for key in english if key not in catalog]
    extra = [key for key in catalog if key not in english]
    problems = [f"{language}: missing key {key!r}" for key in missing]
    problems += [f"{language}: extra key {key!r} (not in en.json)" for key in extra]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_keys_follow_english_order(language: str, english: dict[str, str]) -> None:
    shared = [key for key in load(language) if key in english]
    expected = [key for key in english if key in shared]
    assert shared == expected, f"{language}: keys are not in the order of en.json"


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_placeholders_match_english(language: str, english: dict[str, str]) -> None:
    catalog = load(language)
    problems = []
    for key, source in english.items():
        value = catalog.get(key)
        if not isinstance(value, str):
            continue  # reported by the key and value tests
        want, got = placeholders(source), placeholders(value)
        if want != got:
            problems.append(
                f"{language}: {key!r} has placeholders {sorted(got)}, "
                f"English has {sorted(want)}"
            )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATIONS)
def test_values_are_translated(language: str, english: dict[str, str]) -> None:
    catalog = load(language)
    untranslated = [
        key
        for key, source in english.items()
        if catalog.get(key) == source
        and key not in SAME_AS_ENGLISH_ALLOWED
        and not only_placeholders_or_punctuation(source)
    ]
    assert not untranslated, f"{language}: values identical to English: {untranslated}"


def test_language_names_are_distinct() -> None:
    names = {lang: load(lang).get("meta.language_name") for lang in discovered()}
    assert len(set(names.values())) == len(names), f"duplicate language names: {names}"
