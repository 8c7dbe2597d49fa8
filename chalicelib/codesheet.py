"""The printable sheet of an access-code batch: cut-out cards, six a page.

Pure (fpdf2 only, no AWS). Each US Letter page holds six cards in two
columns, with dashed lines to cut along. A card shows the cycle's name, the
code in large monospace type, the voting dates in the cycle's time zone
(Eastern time for Boston), the site that hands it out, the address of the
ballot page and one short instruction in each of the cycle's languages, and
in small type the batch id and the card's number, so that staff can tell
which batch a lost or returned card belongs to.

Fonts are bundled in ``chalicelib/fonts/`` (licences beside them):
DejaVu Sans and DejaVu Sans Mono (Debian's fonts-dejavu-core) print every
Latin-script language of the site, Vietnamese's stacked diacritics too.
Chinese needs a CJK font of 16 MB or more, too large for the Lambda; the
sheet instead embeds ``NotoSansSC-cards.otf``, a subset of Noto Sans CJK SC
(Debian's fonts-noto-cjk) holding only the glyphs of the Chinese line below,
about 14 KB. Known limit: changing :data:`INSTRUCTIONS` for ``zh-Hans`` needs
the subset rebuilt with ``python -m pbctl.cjkfont`` (on a machine with
fonts-noto-cjk); tests/unit/test_codesheet.py fails until it is. The cycle
name and site are printed in DejaVu only: a cycle name it cannot print is
replaced by the cycle id, and site names are limited to what it prints
(:func:`chalicelib.codebatches.parse_site`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import MethodReturnValue, WrapMode

from chalicelib.accesscodes import display
from chalicelib.codebatches import CodeBatch
from chalicelib.cycle import Cycle, Phase

FONTS = Path(__file__).resolve().parent / "fonts"
SANS = FONTS / "DejaVuSans.ttf"
SANS_BOLD = FONTS / "DejaVuSans-Bold.ttf"
MONO_BOLD = FONTS / "DejaVuSansMono-Bold.ttf"
CJK = FONTS / "NotoSansSC-cards.otf"

#: One line per language, keyed by the site's language tags. Reviewed
#: wording should replace these as the office's translators provide it.
INSTRUCTIONS = {
    "en": "Enter this code on the ballot at the address above. One vote per code.",
    "es": "Ingrese este código en la boleta, en la dirección de arriba. "
    "Un voto por código.",
    "ht": "Antre kòd sa a sou bilten vòt la, nan adrès ki anwo a. "
    "Yon vòt pou chak kòd.",
    "vi": "Nhập mã này vào lá phiếu tại địa chỉ ở trên. Mỗi mã dùng cho một phiếu bầu.",
    "zh-Hans": "请在上方网址的选票上输入此访问码。每个访问码只能投一票。",
    "pt": "Digite este código na cédula, no endereço acima. Um voto por código.",
    "kea": "Skrebe es kódigu na boletin, na enderesu di riba. Un votu pa kódigu.",
}
#: Languages printed with the CJK subset instead of DejaVu.
CJK_LANGUAGES = ("zh-Hans",)

_PAGE_W, _PAGE_H = 215.9, 279.4  # US Letter, mm
_MARGIN = 8.0
_COLUMNS, _ROWS = 2, 3
_PAD = 6.0
_CARD_W = (_PAGE_W - 2 * _MARGIN) / _COLUMNS
_CARD_H = (_PAGE_H - 2 * _MARGIN) / _ROWS
_ZONE_NAMES = {"America/New_York": "Eastern time"}


def render_sheet(cycle: Cycle, batch: CodeBatch, *, site_url: str = "") -> bytes:
    """The PDF of ``batch``'s cards for ``cycle``; ``site_url`` is the
    site's origin (left off the cards when empty). Returns the PDF bytes."""
    pdf = FPDF(orientation="P", unit="mm", format="Letter")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_title(f"Access codes {batch.batch_id}")
    pdf.set_creator("Boston PB")
    pdf.add_font("sans", "", SANS)
    pdf.add_font("sans", "B", SANS_BOLD)
    pdf.add_font("mono", "B", MONO_BOLD)
    pdf.add_font("cjk", "", CJK)

    pdf.add_page()  # fpdf2 lays out text only on a page
    card = _Card(
        pdf,
        name=cycle.name if printable(cycle.name) else cycle.cycle_id,
        voting=voting_dates(cycle),
        site=batch.site,
        url=ballot_address(site_url),
        lines=instruction_lines(cycle.languages),
        batch_id=batch.batch_id,
        total=batch.count,
    )
    per_page = _COLUMNS * _ROWS
    for index, code in enumerate(batch.codes):
        slot = index % per_page
        if slot == 0:
            if index:
                pdf.add_page()
            _cut_lines(pdf)
        x = _MARGIN + (slot % _COLUMNS) * _CARD_W
        y = _MARGIN + (slot // _COLUMNS) * _CARD_H
        card.draw(pdf, x, y, display(code), index + 1)
    return bytes(pdf.output())


def instruction_lines(languages: Sequence[str]) -> list[tuple[str, str]]:
    """``(language, text)`` for each of ``languages`` the sheet has a line for,
    in the cycle's order; English first if the cycle lists none."""
    lines = [(tag, INSTRUCTIONS[tag]) for tag in languages if tag in INSTRUCTIONS]
    return lines or [("en", INSTRUCTIONS["en"])]


def voting_dates(cycle: Cycle) -> str:
    """The voting window in the cycle's time zone, e.g. ``May 16, 2027,
    9:00 AM – May 31, 2027, 8:00 PM (Eastern time)``."""
    zone = ZoneInfo(cycle.timezone)
    window = cycle.calendar[Phase.VOTING]
    start, end = (t.astimezone(zone) for t in (window.start, window.end))
    label = _ZONE_NAMES.get(cycle.timezone, cycle.timezone)
    return f"{_when(start)} – {_when(end)} ({label})"


def ballot_address(origin: str) -> str:
    """What a resident types: the ballot page, without ``https://``."""
    origin = origin.strip().rstrip("/")
    if not origin:
        return ""
    if origin.startswith("https://"):
        origin = origin[len("https://") :]
    return f"{origin}/ballot.html"


def printable(text: str) -> bool:
    """Whether DejaVu Sans prints every character of ``text``."""
    return all(ord(c) in _cmap(SANS) for c in text if c not in "\n")


_CMAPS: dict[Path, frozenset[int]] = {}


def _cmap(path: Path) -> frozenset[int]:
    if path not in _CMAPS:
        font = TTFont(path, lazy=True)
        _CMAPS[path] = frozenset(font.getBestCmap())
        font.close()
    return _CMAPS[path]


def _when(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%B} {moment.day}, {moment.year}, {hour}:{moment.minute:02d} {half}"


def _cut_lines(pdf: FPDF) -> None:
    pdf.set_draw_color(150, 150, 150)
    pdf.set_line_width(0.2)
    pdf.set_dash_pattern(dash=2, gap=1.5)
    for column in range(_COLUMNS + 1):
        x = _MARGIN + column * _CARD_W
        pdf.line(x, _MARGIN / 2, x, _PAGE_H - _MARGIN / 2)
    for row in range(_ROWS + 1):
        y = _MARGIN + row * _CARD_H
        pdf.line(_MARGIN / 2, y, _PAGE_W - _MARGIN / 2, y)
    pdf.set_dash_pattern()


class _Card:
    """What every card of a sheet shares, laid out once; :meth:`draw` adds a code.

    Wrapping text is the slow part of fpdf2, and every card of a sheet has
    the same text but its code, so the lines are broken once per sheet.
    """

    _LABEL = 13.0  # width of the "Voting" and "Site" labels

    def __init__(self, pdf: FPDF, *, name, voting, site, url, lines, batch_id, total):
        self.width = _CARD_W - 2 * _PAD
        self.name = name
        self.url = url
        self.batch_id = batch_id
        self.total = total
        pdf.set_font("sans", "B", 11)
        self.name_size = _fitting_size(pdf, name, self.width, 11)
        pdf.set_font("sans", "B", 10)
        self.url_size = _fitting_size(pdf, url, self.width, 10)
        self.url_w = pdf.get_string_width(url)
        pdf.set_font("sans", "", 7)
        self.label_w = pdf.get_string_width("ACCESS CODE")
        pdf.set_font("sans", "", 8)
        self.voting = _wrap(pdf, voting, self.width - self._LABEL)
        self.site = _wrap(pdf, site, self.width - self._LABEL)
        top = 23 + 4 * (len(self.voting) + len(self.site)) + (6.5 if url else 0)
        room = _CARD_H - 2 * _PAD - top - 4
        # The largest type at which every language's line fits on the card.
        for size in (7.5, 7.0, 6.5, 6.0, 5.5):
            self.text_size, self.line_h = size, size * 0.45
            self.lines = []
            for tag, text in lines:
                cjk = tag in CJK_LANGUAGES
                pdf.set_font("cjk" if cjk else "sans", "", size)
                wrapped = _wrap(pdf, text, self.width, by_char=cjk)
                self.lines.append(("cjk" if cjk else "sans", wrapped))
            height = sum(len(w) * self.line_h + 0.6 for _, w in self.lines)
            if height <= room:
                break

    def draw(self, pdf: FPDF, x: float, y: float, code: str, number: int) -> None:
        # text() at a baseline, not cell(): a cell costs a line-break pass.
        width, left, top = self.width, x + _PAD, y + _PAD
        pdf.set_text_color(0, 0, 0)

        pdf.set_font("sans", "B", self.name_size)
        pdf.text(left, top + 4, self.name)
        pdf.set_font("sans", "", 7)
        pdf.text(left + (width - self.label_w) / 2, top + 9.5, "ACCESS CODE")
        pdf.set_font("mono", "B", 22)
        pdf.text(left + (width - pdf.get_string_width(code)) / 2, top + 18, code)

        baseline = top + 26
        for label, wrapped in (("Voting", self.voting), ("Site", self.site)):
            pdf.set_font("sans", "B", 8)
            pdf.text(left, baseline, label)
            pdf.set_font("sans", "", 8)
            for line in wrapped:
                pdf.text(left + self._LABEL, baseline, line)
                baseline += 4
        if self.url:
            pdf.set_font("sans", "B", self.url_size)
            pdf.text(left + (width - self.url_w) / 2, baseline + 1.5, self.url)
            baseline += 6.5

        for family, wrapped in self.lines:
            pdf.set_font(family, "", self.text_size)
            for line in wrapped:
                pdf.text(left, baseline, line)
                baseline += self.line_h
            baseline += 0.6

        pdf.set_font("sans", "", 5.5)
        pdf.set_text_color(90, 90, 90)
        pdf.text(
            left,
            y + _CARD_H - _PAD,
            f"Batch {self.batch_id} · card {number} of {self.total}",
        )


def _wrap(pdf: FPDF, text: str, width: float, *, by_char: bool = False) -> list[str]:
    """``text`` broken into lines of ``width`` in the current font."""
    if not text:
        return []
    return pdf.multi_cell(
        width,
        text=text,
        dry_run=True,
        output=MethodReturnValue.LINES,
        wrapmode=WrapMode.CHAR if by_char else WrapMode.WORD,
    )


def _fitting_size(pdf: FPDF, text: str, width: float, size: float) -> float:
    """The largest size up to ``size`` at which ``text`` fits on one line."""
    while size > 6 and pdf.get_string_width(text) > width:
        size -= 0.5
        pdf.set_font_size(size)
    return size
