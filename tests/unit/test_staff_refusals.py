"""Every refusal code docs/api.md lists for the staff API has words in the
staff console (``static_site/src/js/staff-errors.js``), and those words are
catalog keys. 401 codes are the exception: the console answers them by
signing the member out, with its own message on the sign-in page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
SCRIPT = (ROOT / "static_site" / "src" / "js" / "staff-errors.js").read_text(
    encoding="utf-8"
)
ENGLISH = json.loads(
    (ROOT / "static_site" / "src" / "i18n" / "en.json").read_text(encoding="utf-8")
)

ROW = re.compile(r"^\|\s*(\d{3})\s*\|(.*?)\|", re.MULTILINE)
CODE = re.compile(r"`([A-Z][A-Z_]+)`")
ENTRY = re.compile(r'^\s*"?([A-Z][A-Z_]+(?:/[a-z_]+)?)"?:\s*"([a-z_.]+)"', re.MULTILINE)


def staff_codes() -> dict[str, int]:
    """code -> status, from the tables after "# The staff API"."""
    section = DOCS[DOCS.index("# The staff API") :]
    codes = {}
    for status, cell in ROW.findall(section):
        for code in CODE.findall(cell):
            codes[code] = int(status)
    return codes


def refusals() -> dict[str, str]:
    table = SCRIPT[SCRIPT.index("const REFUSALS") : SCRIPT.index("};")]
    return dict(ENTRY.findall(table))


def test_the_docs_list_the_codes_this_test_expects() -> None:
    codes = staff_codes()
    assert {"STALE_VERSION", "ILLEGAL_TRANSITION", "NOT_PERMITTED", "INVALID_TIME"} <= (
        codes.keys()
    )
    assert codes["TOKEN_EXPIRED"] == 401


def test_every_staff_refusal_code_has_a_sentence() -> None:
    words = refusals()
    missing = sorted(
        code
        for code, status in staff_codes().items()
        if status != 401 and code not in words
    )
    assert not missing, f"staff-errors.js has no sentence for {missing}"


def test_every_sentence_is_a_catalog_key() -> None:
    unknown = sorted(key for key in refusals().values() if key not in ENGLISH)
    assert not unknown, f"staff-errors.js names keys missing from en.json: {unknown}"
