"""One real Label Studio server per test session, stopped by pid whatever happens."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from roadmark_pipeline.ids import frame_id, sha256_file
from roadmark_pipeline.labeling.server import LabelStudioServer

TEST_TOKEN = "roadmark-test-token-0123456789"
SYNTHETIC_KEY = "00000000deadbeef"


@pytest.fixture(scope="session")
def ls_document_root(tmp_path_factory, data_dir) -> Path:
    """A document root with frames laid out like the lake: frames/<source key>/<index>.jpg.

    Six real stills plus two synthetic 640x360 frames made with OpenCV.
    """
    root = tmp_path_factory.mktemp("ls-root")
    for still in sorted((data_dir / "stills").glob("*.jpg")):
        key = sha256_file(still)[:16]
        (root / "frames" / key).mkdir(parents=True)
        shutil.copy(still, root / "frames" / key / "000000.jpg")
    rng = np.random.default_rng(0)
    synthetic = root / "frames" / SYNTHETIC_KEY
    synthetic.mkdir(parents=True)
    for index in (4, 8):
        image = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
        cv2.imwrite(str(synthetic / f"{index:06d}.jpg"), image)
    return root


@pytest.fixture(scope="session")
def ls_frames(ls_document_root) -> list[dict]:
    """The frames table rows (frame_id, path, width, height, metadata); the stills come first."""
    rows = []
    paths = sorted((ls_document_root / "frames").glob("*/*.jpg"))
    for path in sorted(paths, key=lambda p: (p.parent.name == SYNTHETIC_KEY, p)):
        height, width = cv2.imread(str(path)).shape[:2]
        key, index = path.parent.name, int(path.stem)
        rows.append(
            {
                "frame_id": frame_id(key, index),
                "path": str(path),
                "width": width,
                "height": height,
                "source_key": key,
                "frame_index": index,
                "camera_model": "udacity-dashcam" if index == 0 else "synthetic",
            }
        )
    return rows


@pytest.fixture(scope="session")
def ls_server(tmp_path_factory, ls_document_root) -> Iterator[LabelStudioServer]:
    """A real Label Studio on a free 127.0.0.1 port, first start (about 50 s)."""
    server = LabelStudioServer(
        tmp_path_factory.mktemp("ls-data"), token=TEST_TOKEN, document_root=ls_document_root
    )
    try:
        server.start(timeout_s=300)
        yield server
    finally:
        server.stop()
