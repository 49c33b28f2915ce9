"""Stills open the same way whatever the process imported before (ultralytics patches PIL).

Once ``ultralytics`` is imported, ``PIL.Image.open`` is its own version, which answers a file
Pillow cannot identify by installing a HEIF plugin; offline that is a ``ModuleNotFoundError``
instead of our :class:`UnreadableSourceError`. The check runs in a fresh interpreter so that
ultralytics really is imported first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from roadmark_pipeline.video.errors import UnreadableSourceError
from roadmark_pipeline.video.still import load_still, open_image

_AFTER_ULTRALYTICS = """
import json, sys
from pathlib import Path
import ultralytics  # noqa: F401 - replaces PIL.Image.open for the whole process
from PIL import Image
from roadmark_pipeline.video.errors import UnreadableSourceError
from roadmark_pipeline.video.probe import probe_source

seen = {"patched": Image.open.__module__ != "PIL.Image"}
for name in sys.argv[1:]:
    try:
        info = probe_source(Path(name))
        seen[Path(name).name] = [info.width, info.height, info.rotation]
    except UnreadableSourceError as error:
        seen[Path(name).name] = "UnreadableSourceError: " + str(error)
print(json.dumps(seen))
"""


def _bad_stills(folder: Path, good: Path) -> list[Path]:
    text = folder / "photo.jpg"
    text.write_text("not an image")
    cut = folder / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:2000])
    header_only = folder / "header.png"
    header_only.write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 8)
    return [text, cut, header_only]


def test_probe_of_stills_after_ultralytics_is_imported(tmp_path: Path, data_dir: Path) -> None:
    good = sorted((data_dir / "stills").glob("*.jpg"))[0]
    bad = _bad_stills(tmp_path, good)
    env = {
        **os.environ,
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_CONFIG_DIR": str(tmp_path / "yolo-config"),
    }

    done = subprocess.run(
        [sys.executable, "-c", _AFTER_ULTRALYTICS, str(good), *map(str, bad)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["patched"], "ultralytics no longer patches PIL.Image.open: this test checks nothing"
    assert seen[good.name] == [960, 540, 0]
    for path in bad:
        assert seen[path.name].startswith(f"UnreadableSourceError: {path}: not a readable image")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty file"),
        (b"GIF89a" + b"\x00" * 20, "no JPEG, PNG, BMP, TIFF or WebP header"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", "no JPEG, PNG, BMP, TIFF or WebP header"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 4, "not a readable image"),
    ],
)
def test_open_image_refuses_what_is_not_a_still(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "frame.jpg"
    path.write_bytes(content)

    with pytest.raises(UnreadableSourceError) as raised:
        load_still(path)

    assert str(raised.value).startswith(f"{path}: ")
    assert says in str(raised.value)


def test_open_image_reads_png_and_bmp(tmp_path: Path) -> None:
    from PIL import Image

    for suffix in ("png", "bmp", "tiff", "webp"):
        path = tmp_path / f"frame.{suffix}"
        lossless = {"lossless": True} if suffix == "webp" else {}
        Image.new("RGB", (12, 7), (10, 20, 30)).save(path, **lossless)
        with open_image(path) as image:
            assert image.size == (12, 7)
        assert load_still(path).bgr[0, 0].tolist() == [30, 20, 10]
