"""Upkeep jobs that produce no data: keeping the OTA repository's signatures fresh."""

import dagster as dg

from assets.resources import LakeResource
from roadmark_pipeline.release.tuf_repo import TufRepository


@dg.op
def refresh_tuf_metadata(context: dg.OpExecutionContext, lake: LakeResource) -> None:
    """Re-sign the TUF timestamp (and snapshot/targets when close to expiry)."""
    with lake.workspace("tuf") as root:
        if not (root / "repository" / "metadata" / "timestamp.json").exists():
            context.log.info("no TUF repository yet: nothing published, nothing to refresh")
            return
        roles = TufRepository(root / "repository", root / "keys").refresh_expiring()
    context.log.info(f"re-signed {', '.join(roles)}")


@dg.job(description="Re-sign the OTA repository's expiring metadata so devices keep trusting it.")
def tuf_refresh_job() -> None:
    """Keep the TUF metadata unexpired."""
    refresh_tuf_metadata()
