"""The demo's last stage: a new camera maker joins the fleet and the loop reacts to it."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from roadmark_pipeline.camera_shift import CameraShift, make_shifted_clip
from roadmark_pipeline.demo_steps import (
    DemoContext,
    device_drives,
    ingest_landed,
    monitor,
)
from roadmark_pipeline.settings import roadmark_home

if TYPE_CHECKING:
    from roadmark_pipeline.demo import DemoOptions, DemoSummary

LOG = logging.getLogger(__name__)

NEW_CAMERA_DEVICE = "demo-jetson-02"


def new_camera(context: DemoContext, options: DemoOptions, summary: DemoSummary) -> None:
    """A darker, colour-cast, lower-resolution camera drives a shipped route.

    Its drive lands (with a sidecar naming the camera) and is ingested; a device with that
    camera runs the release; the day's drift report flags the camera model; the drift sensor
    queues its frames for relabeling and retrains towards the canary channel, once.
    """
    shift = CameraShift()
    name = options.new_camera_clip
    clip = roadmark_home() / "landing" / "new-camera" / f"{shift.camera_model}_{name}"
    if not clip.exists():  # made once: the same content must not land twice as new sources
        make_shifted_clip(options.data_dir / "videos" / name, clip, shift)

    summary.new_sources += ingest_landed(context, options, summary)
    device_drives(
        summary.release, NEW_CAMERA_DEVICE, shift.camera_model, [clip], options.edge_every_n
    )
    monitor(context, dt.datetime.now(dt.UTC).date(), summary, options)
    LOG.info("new camera %s: drift %s", shift.camera_model, summary.drift.get("status"))
