"""The playbook: what the platform suggests for a customer's RFM segment, value tier and browsing
type, as text a marketing team edits in a YAML file (default: playbook.yml beside this module;
``MOPT_PLAYBOOK`` or ``mopt profile --playbook`` names another). A file that cannot be used is
an error naming the file and the field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from dagster_project.lib.segments import behaviour, rfm

DEFAULT_PLAYBOOK_PATH = Path(__file__).with_name("playbook.yml")
# Sections in the order their plays are suggested, with what each one's values are called.
SECTIONS = {
    "rfm_segment": "RFM segment",
    "value_tier": "value tier",
    "browsing_type": "browsing type",
}
FIELDS = ("play", "text")


class PlaybookError(ValueError):
    """A playbook file that cannot be used, naming the file, the field and the rule."""


@dataclass(frozen=True)
class Play:
    section: str  # rfm_segment, value_tier, browsing_type (or `model` for the scores' action)
    value: str  # the customer's value in that section, e.g. star
    play: str
    text: str


Playbook = dict[str, dict[str, Play]]


def known_values() -> dict[str, tuple[str, ...]]:
    """The values each section may name: the configured RFM segment map (segments.yml or the
    defaults) with its no-purchase segment, the value tiers, the browsing types and `unknown`."""
    from dagster_project.lib.segments.config import load_segment_config

    cfg = load_segment_config().rfm
    return {
        "rfm_segment": (
            *dict.fromkeys(name for name, _, _ in cfg.segments),
            cfg.no_purchase_segment,
        ),
        "value_tier": rfm.VALUE_TIERS,
        "browsing_type": (*behaviour.BROWSING_TYPES, behaviour.UNKNOWN),
    }


def playbook_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get("MOPT_PLAYBOOK") or DEFAULT_PLAYBOOK_PATH)


def load_playbook(path: str | Path | None = None) -> Playbook:
    """The plays of the file at ``path`` (else $MOPT_PLAYBOOK, else the default), validated."""
    path = playbook_path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise PlaybookError(f"{path}: cannot read the playbook ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise PlaybookError(f"{path}: not valid YAML ({err})") from err
    return parse_playbook(raw if raw is not None else {}, str(path))


def parse_playbook(raw: object, source: str) -> Playbook:
    if not isinstance(raw, Mapping):
        raise PlaybookError(f"{source}: the top level must be a mapping of sections")
    values = known_values()
    book: Playbook = {}
    for section, entries in raw.items():
        if section not in SECTIONS:
            raise PlaybookError(
                f"{source}: {section}: unknown section; expected one of {', '.join(SECTIONS)}"
            )
        if not isinstance(entries, Mapping):
            raise PlaybookError(f"{source}: {section}: must map each {SECTIONS[section]} to a play")
        book[section] = {}
        for value, entry in entries.items():
            field = f"{section}.{value}"
            if value not in values[section]:
                raise PlaybookError(
                    f"{source}: {field}: unknown {SECTIONS[section]}; expected one of "
                    f"{', '.join(values[section])}"
                )
            if not isinstance(entry, Mapping):
                raise PlaybookError(f"{source}: {field}: must be a mapping with play and text")
            extra = [k for k in entry if k not in FIELDS]
            if extra:
                raise PlaybookError(
                    f"{source}: {field}.{extra[0]}: unknown field; expected {' and '.join(FIELDS)}"
                )
            for name in FIELDS:
                text = entry.get(name)
                if not isinstance(text, str) or not text.strip():
                    raise PlaybookError(f"{source}: {field}.{name}: required, a non-empty string")
            book[section][value] = Play(
                section, value, entry["play"].strip(), entry["text"].strip()
            )
    return book


def suggest(book: Playbook, values: Mapping[str, str | None]) -> list[Play]:
    """The plays for a customer's values ({section: value}), in the sections' order; a value
    that is missing or has no entry suggests nothing."""
    return [
        book[section][values[section]]
        for section in SECTIONS
        if values.get(section) is not None and values[section] in book.get(section, {})
    ]
