"""Build ``chalicelib/fonts/NotoSansSC-cards.otf``, the Chinese glyphs of the
access-code sheet.

A full CJK font is 16 MB or more; the sheet needs a few dozen glyphs, those
of its Chinese instruction line (:data:`chalicelib.codesheet.INSTRUCTIONS`).
This keeps just those, plus ASCII, from Noto Sans CJK SC (SIL Open Font
License 1.1; Debian's fonts-noto-cjk, ``apt-get install fonts-noto-cjk``).
Run it after changing that line:

    python -m pbctl.cjkfont [--source PATH.ttc]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fontTools import subset

from chalicelib.codesheet import CJK, CJK_LANGUAGES, INSTRUCTIONS

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
#: Noto Sans CJK SC in the collection (JP, KR, SC, TC, HK, then the Monos).
SC_INDEX = 2


def glyph_text() -> str:
    """Every character the subset must hold."""
    ascii_ = "".join(chr(c) for c in range(0x20, 0x7F))
    return ascii_ + "".join(INSTRUCTIONS[tag] for tag in CJK_LANGUAGES)


def build(source: Path = SOURCE, target: Path = CJK) -> int:
    """Write the subset to ``target``; return its size in bytes."""
    options = subset.Options()
    options.font_number = SC_INDEX
    options.name_IDs = ["*"]  # keep the copyright and licence records
    options.notdef_outline = True
    options.hinting = False
    options.layout_features = []
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=glyph_text())
    subsetter.subset(font)
    font.save(str(target))
    return target.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"{args.source} not found (fonts-noto-cjk)", file=sys.stderr)
        return 1
    print(f"{CJK}: {build(args.source)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
