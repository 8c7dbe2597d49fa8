"""What the browser tests share about the site: its pages, languages and steps.

Helpers only (fixtures live in ``conftest.py``): the page list with what
each page shows once it has rendered, switching languages, the voter's
steps on the ballot, and axe-core.
"""

from __future__ import annotations

import json
from pathlib import Path

from pbctl.siteserver import SITE, SRC

LANGUAGES = ("en", "es", "ht", "vi", "zh-Hans", "pt", "kea")
AXE_JS = SITE / "node_modules" / "axe-core" / "axe.min.js"
#: The rule tags of WCAG 2.0 and 2.1, levels A and AA.
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

#: Each page, with a selector that is visible once its data has rendered.
PAGES = {
    "home": ("/", "#timeline-section"),
    "ballot": ("/ballot.html", "#proposals input[name=selection]"),
    "confirmation": ("/confirmation.html", "#main-content h1"),
    "results": ("/results.html", "#results"),
    "ideas": ("/ideas.html", ".pb-coming"),
    "priorities": ("/priorities.html", ".pb-coming"),
    "proposals": ("/proposals.html", ".pb-coming"),
    "implementation": ("/implementation.html", ".pb-coming"),
}
#: The pages a cycle in voting can show; results needs a published result.
VOTING_PAGES = [name for name in PAGES if name != "results"]


def catalog(language: str) -> dict[str, str]:
    """The interface messages of ``language``, from ``static_site/src/i18n``."""
    return json.loads((SRC / "i18n" / f"{language}.json").read_text(encoding="utf-8"))


def message(language: str, key: str, **params: object) -> str:
    """A catalog message with its {placeholders} filled, as the site does."""
    text = catalog(language)[key]
    for name, value in params.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def wait_until_rendered(page, name: str, language: str = "en") -> None:
    """Waits for the shared parts in ``language`` and for the page's own data."""
    page.locator("#lang-select option").nth(len(LANGUAGES) - 1).wait_for(
        state="attached"
    )
    page.wait_for_function(
        "code => document.documentElement.lang === code", arg=language
    )
    page.locator(PAGES[name][1]).first.wait_for(state="visible")


def open_page(page, name: str, language: str = "en") -> None:
    """Goes to page ``name`` in ``language`` (set as the remembered choice)."""
    path = PAGES[name][0]
    if page.url == "about:blank":
        page.goto(path)
    page.evaluate("code => localStorage.setItem('pb.lang', code)", language)
    page.goto(path)
    wait_until_rendered(page, name, language)


def choose(page, title: str, language: str = "en") -> None:
    """Ticks a proposal by clicking its label, as people do (USWDS tiles)."""
    label = message(language, "ballot.choose", title=title)
    page.get_by_text(label, exact=True).click()


def fill_about_you(page, voter: str) -> None:
    """Ticks residence, types an age, and gives ``voter`` on the resident's
    word: the browser cycle offers ``attested`` among its ways of proving
    who you are (the other ways: ``test_verification_site.py``)."""
    page.locator('label[for="resident"]').click()
    page.locator("#age").fill("34")
    page.locator('label[for="method-attested"]').click()
    page.locator("#voter-id").fill(voter)


def add_axe(context) -> None:
    """Loads axe-core into every document of ``context``.

    An init script runs outside the page's Content-Security-Policy, so axe
    is there while the site's own policy (no inline script) stays enforced;
    an injected <script> tag would be blocked by it.
    """
    if not AXE_JS.is_file():
        raise FileNotFoundError(f"{AXE_JS}: run `npm ci` in static_site")
    context.add_init_script(path=str(AXE_JS))


def axe_violations(page, tags: list[str] = WCAG_AA) -> list[dict]:
    """Runs axe-core on the page as it is now; returns its violations."""
    return page.evaluate(
        """async (tags) => {
            const report = await axe.run(document, {
                runOnly: {type: "tag", values: tags},
                resultTypes: ["violations"],
            });
            return report.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                nodes: v.nodes.map((n) => ({
                    target: n.target.join(" "),
                    summary: n.failureSummary,
                })),
            }));
        }""",
        tags,
    )


def describe_violations(where: str, violations: list[dict]) -> str:
    """One readable block per violated rule, with the elements at fault."""
    lines = []
    for violation in violations:
        lines.append(
            f"{where}: {violation['id']} ({violation['impact']}): {violation['help']}"
        )
        for node in violation["nodes"][:5]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {summary}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    ... and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)


def stored_count(local_stack, cycle_id: str) -> int:
    """How many ballots the store holds for the cycle."""
    return sum(1 for _ in local_stack.services.store.iter_ballots(cycle_id))


def png_is_valid(path: Path) -> bool:
    data = path.read_bytes() if path.is_file() else b""
    return len(data) > 100 and data.startswith(b"\x89PNG\r\n\x1a\n")
