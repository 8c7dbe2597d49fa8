"""The printable sheet: read back with pypdf, and the fonts cover what it prints."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime

import pytest
from fontTools.ttLib import TTFont
from pypdf import PdfReader

from chalicelib import accesscodes, codebatches, codesheet
from chalicelib.cycle import Cycle, Phase, Proposal
from chalicelib.importer import replay_calendar

pytestmark = pytest.mark.unit

NOW = datetime(2027, 5, 16, 13, 1, tzinfo=UTC)  # voting opened at 9:00 AM EDT
VOTING_ENDS = datetime(2027, 6, 1, 0, 0, tzinfo=UTC)  # 8:00 PM EDT, May 31
SITE_LANGUAGES = ("en", "es", "ht", "vi", "zh-Hans", "pt", "kea")
CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}")


def cycle(**changes) -> Cycle:
    calendar = replay_calendar(NOW, VOTING_ENDS - NOW)
    base = Cycle(
        cycle_id="boston-2027",
        name="Boston PB 2027",
        budget_cap=1_000_000,
        selection_limit=5,
        min_voting_age=11,
        calendar=calendar,
        proposals=(Proposal("p1", 1000, {"en": "Trees"}),),
        phase=Phase.VOTING,
        languages=SITE_LANGUAGES,
    )
    return dataclasses.replace(base, **changes)


def batch(count: int, the_cycle: Cycle | None = None) -> codebatches.CodeBatch:
    return codebatches.make_batch(
        the_cycle or cycle(),
        codebatches.NewBatch("Thư viện Fields Corner", count),
        now=NOW,
    )


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_every_code_is_on_the_sheet_once_and_nothing_else():
    made, other = batch(13), batch(6)

    pdf = codesheet.render_sheet(cycle(), made, site_url="https://pb.boston.gov")

    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 3  # six cards a page
    printed = CODE.findall(text_of(pdf))
    assert sorted(printed) == sorted(accesscodes.display(c) for c in made.codes)
    assert not set(printed) & {accesscodes.display(c) for c in other.codes}


def test_a_card_says_what_where_when_and_how():
    made = batch(1)

    text = text_of(
        codesheet.render_sheet(cycle(), made, site_url="https://pb.boston.gov")
    )

    assert "Boston PB 2027" in text
    assert "pb.boston.gov/ballot.html" in text
    assert "https://" not in text
    assert "May 16, 2027, 9:00 AM – May 31, 2027, 8:00 PM (Eastern time)" in " ".join(
        text.split()
    )
    assert "Thư viện Fields Corner" in text
    assert f"Batch {made.batch_id}" in text
    assert "card 1 of 1" in text
    # pypdf reads the CJK subset's characters with NULs between them.
    flat = re.sub(r"[\s\x00]+", "", text)
    for language in SITE_LANGUAGES:
        assert re.sub(r"\s+", "", codesheet.INSTRUCTIONS[language]) in flat, language


def test_only_the_cycles_languages_are_printed():
    sheet = codesheet.render_sheet(cycle(languages=("en", "es")), batch(1))
    text = " ".join(text_of(sheet).split())

    assert "Un voto por código" in text
    assert "Yon vòt" not in text
    assert "ballot.html" not in text  # no site address known


def test_a_cycle_name_the_font_cannot_print_gives_way_to_the_cycle_id():
    text = text_of(codesheet.render_sheet(cycle(name="波士顿 2027"), batch(1)))

    assert "boston-2027" in text


def test_seven_languages_fit_a_card_in_readable_type():
    made = batch(1)
    pdf = codesheet.FPDF(unit="mm", format="Letter")
    pdf.add_font("sans", "", codesheet.SANS)
    pdf.add_font("sans", "B", codesheet.SANS_BOLD)
    pdf.add_font("cjk", "", codesheet.CJK)
    pdf.add_page()

    card = codesheet._Card(
        pdf,
        name="Boston PB 2027",
        voting=codesheet.voting_dates(cycle()),
        site=made.site,
        url=codesheet.ballot_address("https://pb.boston.gov"),
        lines=codesheet.instruction_lines(SITE_LANGUAGES),
        batch_id=made.batch_id,
        total=1,
    )

    assert card.text_size >= 6


def cmap(path) -> set[int]:
    font = TTFont(path)
    try:
        return set(font.getBestCmap())
    finally:
        font.close()


def test_dejavu_prints_every_site_name_and_latin_instruction():
    sans, bold = cmap(codesheet.SANS), cmap(codesheet.SANS_BOLD)
    allowed = [
        chr(point)
        for low, high in codebatches._SITE_BLOCKS
        for point in range(low, high + 1)
        if codebatches._printable(chr(point))
    ]

    assert [c for c in allowed if ord(c) not in sans or ord(c) not in bold] == []
    for language, text in codesheet.INSTRUCTIONS.items():
        if language not in codesheet.CJK_LANGUAGES:
            assert {ord(c) for c in text} <= sans, language
    assert {ord(c) for c in "0123456789ABCDEFGHJKMNPQRSTVWXYZ-"} <= cmap(
        codesheet.MONO_BOLD
    )


def test_the_cjk_subset_holds_every_glyph_of_the_chinese_line():
    # Fails after a change to the Chinese line: run python -m pbctl.cjkfont.
    glyphs = cmap(codesheet.CJK)

    for language in codesheet.CJK_LANGUAGES:
        assert {ord(c) for c in codesheet.INSTRUCTIONS[language]} <= glyphs
