"""Image files read by the labeling room behave the same after ultralytics patched PIL.

``import ultralytics`` replaces ``PIL.Image.open`` for the whole process; its version meets an
unidentifiable file by installing a HEIF plugin (``ModuleNotFoundError`` offline). The EXIF
orientation reader must still answer 1 for junk and the folder scan must still call junk
corrupt. A fresh interpreter makes sure ultralytics is imported first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_AFTER_ULTRALYTICS = """
import json, sys
from pathlib import Path
import ultralytics  # noqa: F401 - replaces PIL.Image.open for the whole process
from PIL import Image
from roadmark_pipeline.labeling.results import exif_orientation
from roadmark_pipeline.labeling.yolo_labels import scan_yolo_folder

folder = Path(sys.argv[1])
scan = scan_yolo_folder(folder / "images", folder / "labels", n_classes=1)
print(json.dumps({
    "patched": Image.open.__module__ != "PIL.Image",
    "orientation": {p.name: exif_orientation(p) for p in sorted((folder / "images").iterdir())},
    "corrupt": sorted(scan.corrupt),
    "labelled": sorted(scan.labelled),
}))
"""


def test_orientation_and_scan_after_ultralytics_is_imported(tmp_path: Path) -> None:
    from PIL import Image

    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (8, 4)).save(images / "turned.jpg", exif=exif)
    (labels / "turned.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (images / "junk.jpg").write_bytes(b"nope, not a picture")
    (images / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 8)
    env = {
        **os.environ,
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_CONFIG_DIR": str(tmp_path / "yolo-config"),
    }

    done = subprocess.run(
        [sys.executable, "-c", _AFTER_ULTRALYTICS, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["patched"], "ultralytics no longer patches PIL.Image.open: this test checks nothing"
    assert seen["orientation"] == {"cut.png": 1, "junk.jpg": 1, "turned.jpg": 6}
    assert seen["corrupt"] == ["cut", "junk"]
    assert seen["labelled"] == ["turned"]
