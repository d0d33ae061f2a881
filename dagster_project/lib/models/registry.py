"""A model registry on disk: ``<data dir>/models/<model name>/<version>/`` holds the LightGBM
model files and ``metadata.json`` (features, cutoffs, horizon, data fingerprint, metrics, the
verdicts of the model's quality checks, library versions); ``<model name>/champion.json`` names
the version in use.

Every trained version is registered as a candidate with its check verdicts. Only a candidate
that passed every check can become the champion: the first one that passes does; a later one
does unless the current champion, re-scored on the candidate's test window, is better;
otherwise the champion stays, and the decision says why. With no champion, nothing trained is
served (scoring falls back to a labelled baseline)."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("lightgbm", "numpy", "polars", "scikit-learn", "scipy", "feast", "mopt")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def data_fingerprint(*parts: Any) -> str:
    """A short hash of the training data (e.g. Polars ``hash_rows`` sums and row counts)."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    promoted: bool
    champion: str | None
    previous: str | None
    message: str


class Registry:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, name: str, version: str) -> Path:
        return self.root / name / version

    def new_version(self, name: str, fingerprint: str) -> tuple[str, Path]:
        """A fresh version id (UTC time of training, to the microsecond so two trainings in one
        second differ, and the data fingerprint) and its folder. Ids sort by training time."""
        version = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%f}-{fingerprint[:8]}"
        folder = self.folder(name, version)
        folder.mkdir(parents=True, exist_ok=False)
        return version, folder

    def write_metadata(self, name: str, version: str, meta: dict[str, Any]) -> Path:
        path = self.folder(name, version) / "metadata.json"
        path.write_text(json.dumps({"name": name, "version": version, **meta}, indent=2))
        return path

    def metadata(self, name: str, version: str) -> dict[str, Any]:
        return json.loads((self.folder(name, version) / "metadata.json").read_text())

    def versions(self, name: str) -> list[str]:
        base = self.root / name
        if not base.exists():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "metadata.json").exists())

    def passed(self, name: str, version: str) -> bool:
        """Whether ``version`` passed every quality check recorded with it (none recorded: no)."""
        checks = self.metadata(name, version).get("checks") or {}
        return bool(checks) and all(c["passed"] for c in checks.values())

    def champion(self, name: str) -> str | None:
        """The version in use: the one ``champion.json`` names, if it passed its checks."""
        path = self.root / name / "champion.json"
        if not path.exists():
            return None
        version = json.loads(path.read_text())["version"]
        exists = (self.folder(name, version) / "metadata.json").exists()
        return version if exists and self.passed(name, version) else None

    def set_champion(self, name: str, version: str, reason: str) -> None:
        if not self.passed(name, version):
            raise ValueError(f"{name} {version} has not passed its checks: it cannot be champion")
        path = self.root / name / "champion.json"
        path.write_text(
            json.dumps(
                {"version": version, "since": datetime.now(UTC).isoformat(), "reason": reason},
                indent=2,
            )
        )

    def decide(
        self,
        name: str,
        challenger: str,
        challenger_score: float,
        champion_score: Callable[[str], float | None],
        metric: str,
        tolerance: float = 0.0,
    ) -> Decision:
        """Promote ``challenger`` if it passed its checks, unless the champion scores better
        (higher ``metric``) than the challenger by more than ``tolerance`` on the challenger's
        test window. ``champion_score(version)`` re-scores the champion there (None: cannot,
        e.g. other features; the challenger then wins)."""
        current = self.champion(name)
        if not self.passed(name, challenger):
            failed = sorted(
                k for k, c in self.metadata(name, challenger)["checks"].items() if not c["passed"]
            )
            kept = f"champion stays {current}" if current else "no champion yet"
            message = f"not promoted {challenger}: failed {', '.join(failed)}; {kept}"
            return Decision(False, current, current, message)
        if current is None or current == challenger:
            reason = f"first model to pass its checks: {metric} {challenger_score:.4f}"
            self.set_champion(name, challenger, reason)
            return Decision(True, challenger, None, reason)
        old = champion_score(current)
        if old is not None and old > challenger_score + tolerance:
            message = (
                f"kept champion {current}: {metric} {old:.4f} on the same test window beats the "
                f"new model {challenger} ({challenger_score:.4f})"
            )
            return Decision(False, current, current, message)
        shown = "n/a" if old is None else f"{old:.4f}"
        reason = (
            f"promoted {challenger}: {metric} {challenger_score:.4f} vs champion {current} "
            f"{shown} on the same test window"
        )
        self.set_champion(name, challenger, reason)
        return Decision(True, challenger, current, reason)
