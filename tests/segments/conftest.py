"""The shared test world (tests/segments/world.py), once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.segments.world import marketing_world_dir


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return marketing_world_dir(tmp_path_factory)
