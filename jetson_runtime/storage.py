"""The storage rule: the runtime never uses more than a share of the disk (half by default).

When the device folder grows over its budget, files go in order of least use:

1. telemetry batches already uploaded (oldest first);
2. release slots other than the current and the previous one, leftover downloads, and
   TensorRT engine caches of models neither of them runs;
3. evidence frames without detections (oldest first);
4. evidence frames with detections (oldest first);
5. telemetry batches not yet uploaded (oldest first) - a last resort, logged as an error.

The current and the previous release are never removed.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from jetson_runtime.session import CACHE_STAMP
from jetson_runtime.slots import BUNDLE_DIR, DeviceLayout

LOG = logging.getLogger(__name__)
DEFAULT_SHARE = 0.5


@dataclass
class StorageReport:
    """Where the device folder stands, and what an enforcement pass removed.

    Attributes:
        used_bytes: Bytes under the device folder after the pass.
        budget_bytes: Bytes the rule allows.
        removed: Paths removed, in removal order.
        freed_bytes: Bytes they held.
        lost_pending: Telemetry batches removed before upload (last resort).
    """

    used_bytes: int
    budget_bytes: int
    removed: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    lost_pending: int = 0

    @property
    def over_budget(self) -> bool:
        """True when even after eviction the folder is above its budget."""
        return self.used_bytes > self.budget_bytes


def tree_size(path: Path) -> int:
    """Return the bytes of the files under ``path`` (links not followed)."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for item in path.rglob("*"):
        if item.is_file() and not item.is_symlink():
            total += item.stat().st_size
    return total


def evidence_detections(jpeg: Path) -> int:
    """Return the detection count an evidence file name carries (``..._n<count>.jpg``)."""
    tail = jpeg.stem.rsplit("_n", 1)
    return int(tail[1]) if len(tail) == 2 and tail[1].isdigit() else 0


class StoragePolicy:
    """Keeps a device folder under its share of the disk.

    Args:
        layout: The device folder.
        share: Largest share of the disk's size the folder may use (0..1).
        max_bytes: A fixed budget instead of a share (tests, small partitions).
    """

    def __init__(
        self, layout: DeviceLayout, share: float = DEFAULT_SHARE, max_bytes: int | None = None
    ) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"storage share {share} must lie in (0, 1]; the default is 0.5")
        self.layout = layout
        self.share = share
        self.max_bytes = max_bytes

    def budget(self) -> int:
        """Bytes the device folder may use."""
        if self.max_bytes is not None:
            return self.max_bytes
        self.layout.root.mkdir(parents=True, exist_ok=True)
        return int(shutil.disk_usage(self.layout.root).total * self.share)

    def used(self) -> int:
        """Bytes the device folder uses now."""
        return tree_size(self.layout.root) if self.layout.root.exists() else 0

    def _evidence(self, with_detections: bool) -> list[list[Path]]:
        groups = []
        for jpeg in sorted(self.layout.evidence.glob("*.jpg")):
            if (evidence_detections(jpeg) > 0) == with_detections:
                groups.append([jpeg, jpeg.with_suffix(".json")])
        return groups

    def _stale_engine_caches(self) -> list[Path]:
        """Engine cache folders of models neither the current nor the previous release runs."""
        wanted = set()
        for slot in self.layout.protected():
            try:
                manifest = json.loads((slot / BUNDLE_DIR / "manifest.json").read_text("utf-8"))
                wanted.add(manifest["files"]["model.onnx"]["sha256"])
            except (OSError, ValueError, KeyError):
                return []  # unsure which caches are in use: keep them all
        stale = []
        for folder in sorted(self.layout.engine_cache.glob("*")):
            try:
                stamp = json.loads((folder / CACHE_STAMP).read_text("utf-8"))
            except (OSError, ValueError):
                continue
            if stamp.get("model") not in wanted:
                stale.append(folder)
        return stale

    def candidates(self) -> list[tuple[str, list[Path]]]:
        """Return what may be removed, least useful first, as (tier, paths) groups."""
        spool = self.layout.spool
        protected = self.layout.protected()
        slots = [
            s
            for s in sorted(self.layout.releases.glob("*"), key=lambda p: p.stat().st_mtime)
            if s.is_dir() and s.resolve() not in protected
        ]
        staging = sorted(self.layout.staging.glob("*")) if self.layout.staging.exists() else []
        staging += self._stale_engine_caches()
        groups: list[tuple[str, list[Path]]] = []
        groups += [("uploaded", [p]) for p in sorted((spool / "uploaded").glob("*.parquet"))]
        groups += [("release", [s]) for s in slots] + [("staging", [s]) for s in staging]
        groups += [("evidence_empty", g) for g in self._evidence(with_detections=False)]
        groups += [("evidence", g) for g in self._evidence(with_detections=True)]
        groups += [("pending", [p]) for p in sorted((spool / "pending").glob("*.parquet"))]
        return groups

    def enforce(self) -> StorageReport:
        """Remove the least useful files until the folder fits its budget.

        Returns:
            The report; ``over_budget`` stays True only when nothing removable is left.
        """
        budget, used = self.budget(), self.used()
        report = StorageReport(used, budget)
        if used <= budget:
            return report
        for tier, paths in self.candidates():
            if report.used_bytes <= budget:
                break
            size = sum(tree_size(p) for p in paths if p.exists())
            for path in paths:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            report.removed.append(str(paths[0]))
            report.freed_bytes += size
            report.used_bytes -= size
            if tier == "pending":
                report.lost_pending += 1
                LOG.error("storage full: removed telemetry batch %s before upload", paths[0].name)
        LOG.info(
            "storage rule: removed %d items (%d bytes); %d of %d bytes used",
            len(report.removed),
            report.freed_bytes,
            report.used_bytes,
            budget,
        )
        if report.over_budget:
            LOG.error("storage still over budget after eviction: only protected files remain")
        return report
