"""Throwaway data stores on 127.0.0.1 for the scale-out tests: PostgreSQL, Redis, moto's S3.

Each runs as a :class:`~tests.deploy.services.Service`, so it is stopped by its process group
with the rest (see tests/deploy/services.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from roadmark_pipeline.localserve import free_port
from tests.deploy.services import VENV_BIN, Service, ServiceError, Services, _as_user, wait_for
from tests.s3server import DUMMY_CREDENTIALS


def postgres_bin() -> Path:
    """The folder with PostgreSQL's server binaries: ``$ROADMARK_PG_BIN``, PATH, or Debian's."""
    if os.environ.get("ROADMARK_PG_BIN"):
        return Path(os.environ["ROADMARK_PG_BIN"])
    on_path = shutil.which("initdb")
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_major_version)
    for initdb in ([Path(on_path)] if on_path else []) + debian[::-1]:
        if (initdb.parent / "postgres").exists():
            return initdb.parent
    raise ServiceError(
        "PostgreSQL server binaries not found: install postgresql (apt-get install postgresql) "
        "or set ROADMARK_PG_BIN to the folder holding initdb and postgres"
    )


def _major_version(initdb: Path) -> int:
    name = initdb.parents[1].name
    return int(name) if name.isdigit() else 0


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster with one database."""

    service: Service
    port: int
    db: str
    user: str = "postgres"
    host: str = "127.0.0.1"

    def env(self) -> dict[str, str]:
        """The variables deploy/postgres/dagster.yaml reads."""
        return {
            "ROADMARK_PG_HOST": self.host,
            "ROADMARK_PG_PORT": str(self.port),
            "ROADMARK_PG_USER": self.user,
            "ROADMARK_PG_PASSWORD": "",
            "ROADMARK_PG_DB": self.db,
        }

    def connect(self, db: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, dbname=db or self.db, connect_timeout=5
        )

    def create_database(self, name: str) -> None:
        """Create an empty database on this server."""
        with contextlib.closing(self.connect("postgres")) as conn:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run one query and return its rows."""
        with contextlib.closing(self.connect()) as conn, conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def start_postgres(services: Services, db: str = "dagster") -> Postgres:
    """Create a cluster in a fresh folder and start it on a free port of 127.0.0.1.

    initdb refuses to run as root: as root, the cluster belongs to the ``postgres`` user and
    the server runs as that user. Authentication is ``trust``, for 127.0.0.1 only.
    """
    bindir = postgres_bin()
    user = "postgres" if os.geteuid() == 0 else None
    # Outside pytest's 0700 tmp folders, so the postgres user can reach it.
    folder = Path(tempfile.mkdtemp(prefix="roadmark-pg-"))
    services.cleanup.append(folder)
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir()
    if user:
        owner = _as_user(user)
        for path in (folder, sockets):
            os.chown(path, owner["user"], owner["group"])
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        + ["--no-sync", "--no-instructions"],
        check=True,
        capture_output=True,
        **_as_user(user),
    )
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(sockets),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }
    command = [str(bindir / "postgres"), "-D", str(data), "-p", str(port)]
    for key, value in settings.items():
        command += ["-c", f"{key}={value}"]
    service = services.start("postgres", command, user=user)
    pg = Postgres(service, port, db)
    wait_for(lambda: pg.connect("postgres").close() is None, service, "accepting connections")
    pg.create_database(db)
    return pg


def start_redis(services: Services) -> str:
    """Start redis-server on a free port of 127.0.0.1, nothing saved; return its URL."""
    binary = shutil.which("redis-server")
    if not binary:
        raise ServiceError("redis-server not found: apt-get install redis-server")
    port = free_port()
    folder = services.base / "redis"
    folder.mkdir()
    service = services.start(
        "redis",
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        + ["--dir", str(folder), "--protected-mode", "yes"],
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    wait_for(lambda: redis.Redis.from_url(url).ping(), service, "answering PING")
    return url


def start_moto(services: Services) -> str:
    """Start moto's S3-protocol server on a free port of 127.0.0.1; return its endpoint URL."""
    port = free_port()
    service = services.start(
        "moto", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url), service, "answering HTTP")
    return url


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
    except urllib.error.HTTPError:
        pass  # any HTTP answer means the server is up
    return True


def s3_client(endpoint: str):
    """A boto3 S3 client for moto's server, with dummy keys."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"],
    )


def bucket_keys(endpoint: str, bucket: str) -> list[str]:
    """Every key in the bucket."""
    paginator = s3_client(endpoint).get_paginator("list_objects_v2")
    return [
        obj["Key"] for page in paginator.paginate(Bucket=bucket) for obj in page.get("Contents", [])
    ]
