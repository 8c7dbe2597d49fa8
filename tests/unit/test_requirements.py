"""The scheduled app ships a subset of the API's pinned requirements."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.split("[")[0].lower()] = version
    return pins


def test_scheduled_requirements_are_the_apis_pins() -> None:
    api = _pins(ROOT / "requirements.txt")
    scheduled = _pins(ROOT / "scheduled" / "requirements.txt")

    assert scheduled
    assert {name: api.get(name) for name in scheduled} == scheduled


def test_the_scheduled_app_leaves_out_the_api_only_packages() -> None:
    scheduled = _pins(ROOT / "scheduled" / "requirements.txt")

    assert not {"pyjwt", "fpdf2", "pillow", "cryptography"} & set(scheduled)
