"""The README is the front page: the two Quick-start commands, and every relative link and
picture leads to a file that exists (and to a heading that exists, for ``page.md#anchor``).
The pages under docs/ are checked by ``mkdocs build --strict`` in ``make test``; the README
is outside the site, so it is checked here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

#: A front page, not the manual: the rest lives in docs/ (issue 26 asked for about 250).
MAX_LINES = 300

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def relative_links(markdown: str) -> list[str]:
    """Targets of the Markdown links and pictures outside code, except web addresses."""
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    targets = LINK.findall(text)
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def slug(heading: str) -> str:
    """The anchor GitHub and MkDocs give a heading: lower case, punctuation dropped,
    spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_relative_links_finds_links_and_pictures_but_not_code_or_web_addresses() -> None:
    text = (
        "[a](docs/a.md) ![b](docs/b.png) [c](https://x.org/c) `[d](d.md)`\n"
        "```\n[e](e.md)\n```\n[f](docs/f.md#g)\n"
    )
    assert relative_links(text) == ["docs/a.md", "docs/b.png", "docs/f.md#g"]
    assert slug("Deploy: ONNX, TorchScript, `onnxruntime` without torch") == (
        "deploy-onnx-torchscript-onnxruntime-without-torch"
    )


def test_every_relative_link_of_the_readme_points_at_an_existing_file() -> None:
    links = relative_links(README.read_text())
    assert len(links) >= 10  # the pictures and the pages of the documentation
    for link in links:
        path, _, anchor = link.partition("#")
        target = (REPO / path).resolve() if path else README
        assert target.is_relative_to(REPO), link
        assert target.exists(), f"README links to {link}, which does not exist"
        if anchor:
            assert target.suffix == ".md", link
            assert anchor in anchors(target), f"README links to {link}: no such heading"


@pytest.mark.parametrize("command", ["make demo", "make test"])
def test_the_quick_start_gives_the_two_commands(command: str) -> None:
    text = README.read_text()
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^    {command}\b", quick_start, re.M), command


def test_the_readme_stays_a_front_page() -> None:
    lines = README.read_text().count("\n")
    assert lines <= MAX_LINES, f"README.md has {lines} lines; move details to docs/"
