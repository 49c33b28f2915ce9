"""Partitions: one per landed source, one per day of fleet telemetry."""

from __future__ import annotations

import dagster as dg

SOURCES = "sources"

sources_partitions = dg.DynamicPartitionsDefinition(name=SOURCES)
daily_partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=1)
