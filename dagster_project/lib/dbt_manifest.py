"""Whether dbt's manifest is current: a fingerprint of everything `dbt parse` reads.

Under `dagster dev`, dagster-dbt re-parses the project on every definitions load, and every run
launched from the UI loads the definitions again in its own process: 4-8 s of `dbt parse` each
time on this machine. Parsing only when the project changed makes those loads read the cached
manifest instead."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# What `dbt parse` reads: the project, its profile (the warehouse path is templated into it, and a
# changed profile costs dbt a full re-parse) and the files under these folders.
PARSED_FOLDERS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
PARSED_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")
PROFILE_VARIABLES = ("MOPT_DUCKDB_PATH", "MOPT_DUCKDB_MEMORY_LIMIT")
FINGERPRINT_FILE = "mopt_manifest.fingerprint"


def project_fingerprint(project_dir: Path) -> str:
    """A hash of the files dbt parses and of the environment its profile reads."""
    digest = hashlib.sha256()
    paths = [project_dir / name for name in PARSED_FILES if (project_dir / name).exists()]
    for folder in PARSED_FOLDERS:
        paths += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    for path in sorted(paths):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0" + path.read_bytes())
    for name in PROFILE_VARIABLES:
        digest.update(f"{name}={os.environ.get(name, '')}\0".encode())
    return digest.hexdigest()


def manifest_is_current(manifest_path: Path, project_dir: Path) -> bool:
    """The manifest exists and was parsed from the project as it is now."""
    stamp = manifest_path.with_name(FINGERPRINT_FILE)
    return (
        manifest_path.exists()
        and stamp.exists()
        and stamp.read_text() == project_fingerprint(project_dir)
    )


def record_parse(manifest_path: Path, project_dir: Path) -> None:
    """Note that the manifest now matches the project (after a `dbt parse`)."""
    manifest_path.with_name(FINGERPRINT_FILE).write_text(project_fingerprint(project_dir))


if __name__ == "__main__":  # after `dbt parse` in `make install`
    from dagster_project.lib.settings import DBT_MANIFEST_PATH, DBT_PROJECT_DIR

    record_parse(DBT_MANIFEST_PATH, DBT_PROJECT_DIR)
