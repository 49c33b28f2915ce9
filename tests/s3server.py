"""A throwaway S3-protocol server (moto's) on 127.0.0.1 for tests that use an ``s3://`` lake."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from roadmark_pipeline.localserve import free_port

DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "roadmark-test",
    "AWS_SECRET_ACCESS_KEY": "roadmark-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def moto_s3(log_dir: Path) -> Iterator[dict[str, str]]:
    """Run ``moto_server`` on a free loopback port; yield the environment that points s3fs at it.

    The server is stopped by its PID when the block ends, also when it fails.

    Args:
        log_dir: Where the server's log goes.

    Yields:
        ``AWS_ENDPOINT_URL`` and dummy credentials.
    """
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    log = open(log_dir / "moto.log", "wb")
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, process, log_dir / "moto.log")
        yield {"AWS_ENDPOINT_URL": url, **DUMMY_CREDENTIALS}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto_server did not answer on {url} within {timeout_s} s")


def make_bucket(env: dict[str, str], bucket: str) -> None:
    """Create ``bucket`` on the server ``env`` points at."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key=env["AWS_ACCESS_KEY_ID"],
        secret=env["AWS_SECRET_ACCESS_KEY"],
        client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL"]},
    )
    fs.mkdir(bucket)


def apply_env(monkeypatch, env: dict[str, str]) -> None:
    """Set the server's environment for this test and clear cached s3fs instances."""
    import s3fs

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s3fs.S3FileSystem.clear_instance_cache()
