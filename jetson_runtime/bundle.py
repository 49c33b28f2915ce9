"""The OTA release bundle: its files, its manifest and the checks a device makes before use.

A bundle is a folder::

    manifest.json      version, sha256 and size of every other file, lineage, min runtime version
    runtime.json       input size, class names, per-class thresholds, IoU, pre-processing
    model.onnx         the detector
    probe/             probe frames and expected.json (the health check's expected detections)
    jetson_runtime-<v>-py3-none-any.whl   the runtime that goes with the model

The pipeline writes it (``roadmark_pipeline.release.bundle``) with the helpers here, so both sides
share one definition of the format.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jetson_runtime import __version__

LOG = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RUNTIME_CONFIG = "runtime.json"
MODEL = "model.onnx"
PROBE_DIR = "probe"
PROBE_EXPECTED = "probe/expected.json"
BUNDLE_FORMAT = 1
_CHUNK = 1 << 20
_VERSION_TEXT = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")


class BundleError(ValueError):
    """A bundle that must not be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class RuntimeConfig:
    """What the runtime needs to know to run the bundle's model (``runtime.json``).

    Attributes:
        model_version: Version of the model inside the bundle.
        input_size: Side of the square model input in pixels.
        class_names: Class names in model-output order.
        thresholds: Confidence threshold per class, same order as ``class_names``.
        iou: IoU threshold of the NMS.
        preprocessing: Pre-processing parameters (letterbox, pad value, colour order, scale).
    """

    model_version: str
    input_size: int
    class_names: tuple[str, ...]
    thresholds: tuple[float, ...]
    iou: float = 0.45
    preprocessing: dict[str, Any] = field(
        default_factory=lambda: {"letterbox": True, "pad_value": 114, "color": "rgb", "scale": 255}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        problems = self.problems()
        if problems:
            raise BundleError(f"{RUNTIME_CONFIG}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Return what is wrong with the configuration, empty when it is usable."""
        found = []
        if self.input_size <= 0 or self.input_size % 32:
            found.append(f"input_size {self.input_size} must be a positive multiple of 32")
        if not self.class_names or len(set(self.class_names)) != len(self.class_names):
            found.append(f"class_names {list(self.class_names)} must be non-empty and unique")
        if len(self.thresholds) != len(self.class_names):
            found.append(
                f"{len(self.thresholds)} thresholds for {len(self.class_names)} classes; "
                "give one threshold per class"
            )
        if any(not 0.0 <= t <= 1.0 for t in self.thresholds) or not 0.0 < self.iou <= 1.0:
            found.append("thresholds and iou must lie in 0..1")
        return found

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form written to ``runtime.json``."""
        value = asdict(self)
        value["class_names"] = list(self.class_names)
        value["thresholds"] = list(self.thresholds)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> RuntimeConfig:
        """Build a configuration from the JSON form.

        Raises:
            BundleError: When a field is missing or invalid.
        """
        try:
            return cls(
                model_version=str(value["model_version"]),
                input_size=int(value["input_size"]),
                class_names=tuple(value["class_names"]),
                thresholds=tuple(value["thresholds"]),
                iou=float(value.get("iou", 0.45)),
                preprocessing=dict(value.get("preprocessing", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, BundleError):
                raise
            raise BundleError(f"{RUNTIME_CONFIG}: missing or invalid field ({exc})") from exc


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk.

    Attributes:
        path: The bundle folder.
        version: The release version (from the manifest).
        config: The runtime configuration.
        manifest: The whole manifest.
    """

    path: Path
    version: str
    config: RuntimeConfig
    manifest: dict[str, Any]

    @property
    def model_path(self) -> Path:
        """The ONNX model file."""
        return self.path / MODEL

    @property
    def model_sha256(self) -> str:
        """The model's sha256 as the manifest records it."""
        return str(self.manifest["files"][MODEL]["sha256"])

    @property
    def wheel_path(self) -> Path | None:
        """The runtime wheel shipped with the model, if any."""
        name = self.manifest.get("runtime_wheel")
        return self.path / name if name else None

    @property
    def probe_expected_path(self) -> Path:
        """The health check's expected detections."""
        return self.path / PROBE_EXPECTED

    @property
    def lineage(self) -> dict[str, str]:
        """Where the model came from (dataset version, training run, parent release)."""
        return dict(self.manifest.get("lineage", {}))


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def version_key(version: str) -> tuple[int, ...]:
    """Return a sortable key for a version such as ``1.2.10`` or ``2024.06.01-3``.

    Raises:
        BundleError: When the version holds no number.
    """
    numbers = re.findall(r"\d+", version)
    if not numbers:
        raise BundleError(f"version {version!r} holds no number; use e.g. '1.4.0' or '2024.06.01'")
    return tuple(int(n) for n in numbers)


def check_version_text(version: str) -> str:
    """Return ``version`` when it is safe as a folder name, else raise :class:`BundleError`."""
    if not _VERSION_TEXT.match(version) or ".." in version:
        raise BundleError(
            f"version {version!r} is not usable as a folder name; use letters, digits, '.', '-'"
        )
    version_key(version)
    return version


def bundle_files(path: Path) -> list[str]:
    """Return every file under a bundle folder (relative, POSIX), the manifest excluded."""
    names = [p.relative_to(path).as_posix() for p in sorted(path.rglob("*")) if p.is_file()]
    return [n for n in names if n != MANIFEST]


def make_manifest(
    path: Path, *, version: str, lineage: dict[str, str], min_runtime_version: str, wheel: str
) -> dict[str, Any]:
    """Return the manifest of a bundle folder whose other files are all in place.

    Args:
        path: The bundle folder.
        version: The release version.
        lineage: Dataset version, training run, parent release and the like.
        min_runtime_version: Oldest ``jetson_runtime`` able to run this bundle.
        wheel: File name of the runtime wheel inside the folder.

    Returns:
        The manifest, ready to be written as ``manifest.json``.
    """
    files = {
        name: {"sha256": sha256_of(path / name), "size": (path / name).stat().st_size}
        for name in bundle_files(path)
    }
    return {
        "format": BUNDLE_FORMAT,
        "version": check_version_text(version),
        "min_runtime_version": min_runtime_version,
        "runtime_wheel": wheel,
        "lineage": dict(lineage),
        "files": files,
    }


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise BundleError(f"{path}: {what} is missing; the bundle is incomplete, fetch it again")
    try:
        return json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: {what} is not valid JSON ({exc}); fetch it again") from exc


def _verify_files(path: Path, files: dict[str, Any]) -> None:
    for required in (RUNTIME_CONFIG, MODEL, PROBE_EXPECTED):
        if required not in files:
            raise BundleError(f"{path / MANIFEST}: lists no {required}; rebuild the release")
    for name, entry in sorted(files.items()):
        target = (path / name).resolve()
        if path.resolve() not in target.parents:
            raise BundleError(f"{path / MANIFEST}: file name {name!r} points outside the bundle")
        if not target.is_file():
            raise BundleError(f"{path / name}: listed in the manifest but missing")
        if target.stat().st_size != int(entry["size"]):
            raise BundleError(
                f"{path / name}: {target.stat().st_size} bytes, the manifest says "
                f"{entry['size']}; the file is truncated or replaced"
            )
        if sha256_of(target) != entry["sha256"]:
            raise BundleError(f"{path / name}: sha256 differs from the manifest; file altered")


def load_bundle(path: Path, runtime_version: str = __version__) -> Bundle:
    """Verify a bundle folder and load its configuration.

    Args:
        path: The bundle folder.
        runtime_version: Version of the runtime that will run it (this one by default).

    Returns:
        The verified :class:`Bundle`.

    Raises:
        BundleError: When a file is missing, altered or truncated, the manifest is malformed,
            or the bundle needs a newer runtime; the message names the file.
    """
    path = Path(path)
    manifest = _read_json(path / MANIFEST, "the manifest")
    try:
        version = check_version_text(str(manifest["version"]))
        files = dict(manifest["files"])
        minimum = str(manifest["min_runtime_version"])
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{path / MANIFEST}: missing field {exc}; rebuild the release") from exc

    _verify_files(path, files)
    if version_key(minimum) > version_key(runtime_version):
        raise BundleError(
            f"{path / MANIFEST}: needs jetson_runtime >= {minimum}, this runtime is "
            f"{runtime_version}; install the release's wheel first"
        )
    config = RuntimeConfig.from_json(_read_json(path / RUNTIME_CONFIG, RUNTIME_CONFIG))
    LOG.info("bundle %s verified: %d files, model %s", version, len(files), config.model_version)
    return Bundle(path=path, version=version, config=config, manifest=manifest)
