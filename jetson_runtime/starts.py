"""Counting the starts of the current release, and rolling back after too many failed ones."""

from __future__ import annotations

import logging

from jetson_runtime.slots import DeviceLayout, point, read_state, update_state

LOG = logging.getLogger(__name__)


def rollback(layout: DeviceLayout, reason: str) -> str | None:
    """Make the previous release current again and mark the failed one bad.

    Returns:
        The version now current, or None when there is no previous release to go back to.
    """
    bad, previous = layout.current_version(), layout.previous()
    if previous is None or bad is None or previous.name == bad:
        LOG.error("cannot roll back %s (%s): no previous release", bad, reason)
        return None
    point(layout.current_link, previous)
    state = read_state(layout)
    bad_versions = sorted(set(state.get("bad_versions", [])) | {bad})
    update_state(layout, bad_versions=bad_versions, failed_starts=0, version=previous.name)
    LOG.error("rolled back from %s to %s: %s", bad, previous.name, reason)
    return previous.name


def record_start(layout: DeviceLayout, max_failed_starts: int = 3) -> int:
    """Count a start of the current release; roll back first if it failed too often.

    Returns:
        The failed-start count recorded for this start (reset by :func:`start_succeeded`).
    """
    failed = int(read_state(layout).get("failed_starts", 0))
    if failed >= max_failed_starts:
        rollback(layout, f"{failed} failed starts in a row")
        failed = 0
    update_state(layout, failed_starts=failed + 1)
    return failed + 1


def start_succeeded(layout: DeviceLayout) -> None:
    """Mark the running release as started (its first frame processed)."""
    update_state(layout, failed_starts=0)


def start_not_counted(layout: DeviceLayout) -> None:
    """Take back the count of a start that failed for a reason outside the release."""
    failed = int(read_state(layout).get("failed_starts", 0))
    update_state(layout, failed_starts=max(0, failed - 1))
