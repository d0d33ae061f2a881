"""The playbook YAML: the shipped file loads and suggests the seeds' plays; a file that cannot be
used is an error naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.lib.profile.playbook import (
    DEFAULT_PLAYBOOK_PATH,
    PlaybookError,
    load_playbook,
    suggest,
)


def test_the_shipped_playbook_has_the_seeds_plays() -> None:
    book = load_playbook(DEFAULT_PLAYBOOK_PATH)
    assert book["value_tier"]["star"].play == "Reward points"
    assert book["rfm_segment"]["new"].play == "Welcome gift"
    assert book["browsing_type"]["easygoing"].play == "Deal pages"
    plays = suggest(
        book, {"browsing_type": "easygoing", "value_tier": "star", "rfm_segment": "new"}
    )
    assert [p.play for p in plays] == ["Welcome gift", "Reward points", "Deal pages"]
    # a missing value or one without an entry suggests nothing
    assert suggest(book, {"rfm_segment": None, "browsing_type": "unknown"}) == []


def test_mopt_playbook_names_another_file(tmp_path: Path, monkeypatch) -> None:
    own = tmp_path / "ours.yml"
    own.write_text("value_tier:\n  star: {play: Gold card, text: Send the gold card.}\n")
    monkeypatch.setenv("MOPT_PLAYBOOK", str(own))
    book = load_playbook()
    assert book == {"value_tier": {"star": book["value_tier"]["star"]}}
    assert book["value_tier"]["star"].text == "Send the gold card."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("tiers:\n  star: {play: a, text: b}\n", "tiers: unknown section; expected one of"),
        (
            "value_tier:\n  starr: {play: a, text: b}\n",
            "value_tier.starr: unknown value tier; expected one of star, butterfly",
        ),
        ("rfm_segment:\n  vip: {play: a, text: b}\n", "rfm_segment.vip: unknown RFM segment"),
        ("value_tier:\n  star: {play: Reward points}\n", "value_tier.star.text: required"),
        ("value_tier:\n  star: {play: '  ', text: b}\n", "value_tier.star.play: required"),
        ("value_tier:\n  star: {play: a, text: 3}\n", "value_tier.star.text: required"),
        (
            "value_tier:\n  star: {play: a, text: b, colour: red}\n",
            "value_tier.star.colour: unknown field; expected play and text",
        ),
        ("value_tier:\n  star: Reward points\n", "value_tier.star: must be a mapping"),
        ("value_tier: [star]\n", "value_tier: must map each value tier to a play"),
        ("- star\n", "the top level must be a mapping of sections"),
        ("value_tier:\n  star: {play: a\n", "not valid YAML"),
    ],
)
def test_a_bad_playbook_names_the_file_and_the_field(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "playbook.yml"
    path.write_text(content)
    with pytest.raises(PlaybookError) as err:
        load_playbook(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_a_missing_playbook_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="nowhere.yml: cannot read the playbook"):
        load_playbook(tmp_path / "nowhere.yml")
