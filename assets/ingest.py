"""Ingestion assets: the catalog of landed sources and the frames sampled from each."""

import dagster as dg
import pandas as pd

from assets.partitions import sources_partitions
from assets.resources import LakeResource
from roadmark_pipeline import sources
from roadmark_pipeline.video.probe import UnreadableSourceError, probe_source
from roadmark_pipeline.video.sampling import SamplingPolicy, sample_source


class SamplingConfig(dg.Config):
    """How frames are taken from a source.

    Attributes:
        every_n: Take every N-th decoded frame (the reference project took 1 in 25).
        every_seconds: Take a frame every T seconds by timestamp instead (set every_n to null).
        skip_static: Skip near-duplicate frames while the vehicle stands still.
        anonymise: Blur faces and plates; turning it off blocks labeling (the check fails).
        keep_originals: Keep the un-blurred frames too (only where the local rules allow it).
    """

    every_n: int | None = 25
    every_seconds: float | None = None
    skip_static: bool = False
    anonymise: bool = True
    keep_originals: bool = False


@dg.asset(
    partitions_def=sources_partitions,
    io_manager_key="parquet_io_manager",
    group_name="ingest",
    kinds={"video", "parquet"},
)
def raw_videos(context: dg.AssetExecutionContext, lake: LakeResource) -> pd.DataFrame:
    """Catalog row of one landed source: sha256, codec, fps, decodable frames, size, rotation.

    The frame count is what really decodes, not the header's. The file itself is kept
    content-addressed under ``raw/`` in the lake.
    """
    record = sources.lookup(lake.path(), context.partition_key)
    with lake.workspace("raw", context.partition_key) as stored_dir:
        stored = sources.store_source(record, stored_dir.parent)

    try:
        info = probe_source(stored)
    except UnreadableSourceError as error:
        sources.quarantine(stored, lake.path("quarantine"), str(error))
        raise dg.Failure(description=str(error)) from error

    row = info.to_dict() | {
        "partition_key": record.partition_key,
        "landed_uri": record.uri,
        "stored_path": str(stored),
    }
    context.log.info(
        f"{stored.name}: {info.decodable_frames} frames decode (header says "
        f"{info.header_frames}), {info.fps:.2f} fps, {info.width}x{info.height}, "
        f"rotation {info.rotation}"
    )
    context.add_output_metadata(
        {
            key: row[key]
            for key in (
                "kind",
                "codec",
                "fps",
                "decodable_frames",
                "header_frames",
                "duration_s",
                "width",
                "height",
                "rotation",
            )
        }
        | {"file": stored.name}
    )
    return pd.DataFrame([row])


@dg.asset(
    partitions_def=sources_partitions,
    io_manager_key="parquet_io_manager",
    group_name="ingest",
    kinds={"opencv", "parquet"},
)
def sampled_frames(
    context: dg.AssetExecutionContext,
    config: SamplingConfig,
    lake: LakeResource,
    raw_videos: pd.DataFrame,
) -> pd.DataFrame:
    """Frames sampled from one source: upright, anonymised JPEGs with their quality metrics.

    Brightness, contrast, blur and exposure per frame, the rule that took each frame, and the
    regions blurred.
    """
    policy = SamplingPolicy(
        every_n=config.every_n, every_seconds=config.every_seconds, skip_static=config.skip_static
    )
    source = raw_videos.iloc[0]
    anonymiser = None if config.anonymise else _no_anonymiser()
    lake.mirror("raw", context.partition_key)

    with lake.workspace("frames", context.partition_key, pull=False, prune=True) as out_dir:
        manifest = sample_source(
            source["stored_path"],
            out_dir,
            policy,
            anonymiser=anonymiser,
            keep_originals=config.keep_originals,
        )
    manifest["source_name"] = source["path"].rsplit("/", 1)[-1]

    unusable = manifest.loc[~manifest["usable"], "unusable_reason"].value_counts().to_dict()
    context.log.info(
        f"{len(manifest)} frames sampled from {source['decodable_frames']} decoded; "
        f"{int(manifest['regions_blurred'].sum())} regions blurred; unusable: {unusable or 'none'}"
    )
    context.add_output_metadata(
        {
            "frames": len(manifest),
            "rule": str(manifest["rule"].iloc[0]) if len(manifest) else "",
            "regions_blurred": int(manifest["regions_blurred"].sum()),
            "unusable": len(manifest) - int(manifest["usable"].sum()),
            "mean_brightness": float(manifest["brightness"].mean()) if len(manifest) else 0.0,
        }
    )
    return manifest


def _no_anonymiser():  # the explicit opt-out; the blocking check stops labeling then
    from roadmark_pipeline.video.anonymise import NullAnonymiser

    return NullAnonymiser()


@dg.asset_check(asset=sampled_frames, blocking=True, partitions_def=sources_partitions)
def frames_anonymised(sampled_frames: pd.DataFrame) -> dg.AssetCheckResult:
    """Every sampled frame had faces and licence plates blurred before leaving ingestion."""
    missing = sampled_frames.loc[~sampled_frames["anonymised"], "frame_id"].tolist()
    return dg.AssetCheckResult(
        passed=not missing,
        description=(
            "all frames anonymised"
            if not missing
            else f"{len(missing)} frames were not anonymised; set anonymise: true and re-sample"
        ),
        metadata={
            "frames": len(sampled_frames),
            "not_anonymised": len(missing),
            "first_missing": missing[:5],
        },
    )
