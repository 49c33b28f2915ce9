"""Resources: where the lake lives, how tables are stored, how Label Studio is reached."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import fsspec
import pandas as pd
from upath import UPath

from roadmark_pipeline import lake, lake_mirror
from roadmark_pipeline.labeling.client import LabelingProject
from roadmark_pipeline.labeling.config import label_config_xml
from roadmark_pipeline.labeling.server import LabelStudioServer, connect
from roadmark_pipeline.model.registry import ModelRegistry
from roadmark_pipeline.settings import roadmark_home
from roadmark_pipeline.sources import ListedFile

DEFAULT_LS_PORT = 8089
FRAMES_DIR = "frames"


def _resolve_root(configured: str) -> str:
    """Return the lake root: the configured value, else ``$ROADMARK_LAKE``, else the home's lake."""
    return configured or os.environ.get("ROADMARK_LAKE") or str(roadmark_home() / "lake")


class LakeResource(dg.ConfigurableResource):
    """The lake root that holds frames, tables, datasets, models, releases and reports.

    Attributes:
        root: A local folder or an ``s3://`` prefix; empty means ``$ROADMARK_LAKE`` or
            ``$ROADMARK_HOME/lake`` (``./.roadmark/lake`` by default).
    """

    root: str = ""

    def path(self, *parts: str) -> Path | UPath:
        """Return a path under the lake root (local ``Path`` or ``UPath`` for URLs)."""
        base = lake.as_path(_resolve_root(self.root))
        return base.joinpath(*parts) if parts else base

    def is_remote(self) -> bool:
        """Return True when the lake lives in an object store rather than a local folder."""
        return not lake.is_local(self.path())

    def local_path(self, *parts: str) -> Path:
        """Return the local place of ``parts``: in the lake itself, or in a remote lake's mirror.

        For a remote lake nothing is transferred; use :meth:`mirror` to read and
        :meth:`workspace` to write.
        """
        root = self.path()
        if lake.is_local(root):
            return Path(root).joinpath(*parts)
        return lake_mirror.mirror_root(root).joinpath(*parts)

    def mirror(self, *parts: str, prune: bool = False) -> Path:
        """Return local files for ``parts``, first pulling them from a remote lake.

        Args:
            *parts: A prefix (folder) or one file under the lake root.
            prune: Also drop mirrored files the store no longer has.

        TODO(issue 8 follow-up): steps pull whole prefixes (every partition's frames, every
        model); pull only the files a step's inputs name once lakes outgrow a worker's disk.
        """
        if self.is_remote():
            lake_mirror.pull(self.path(*parts), self.local_path(*parts), prune=prune)
        return self.local_path(*parts)

    def ensure(self, path: str | os.PathLike[str]) -> Path:
        """Return a local path an earlier step recorded, pulling it from a remote lake first.

        Paths in tables and records point into the lake folder or, for a remote lake, into its
        mirror; this fetches that file or folder when it is not on this machine yet.

        Args:
            path: A file or folder path as an earlier step recorded it.
        """
        local = Path(path)
        root = self.local_path()
        if self.is_remote() and local.is_relative_to(root):
            parts = local.relative_to(root).parts
            lake_mirror.pull(self.path(*parts), local)
        return local

    def dataset_tables(self, record: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return a dataset version's frame and box tables, its frames' images on this machine.

        Args:
            record: The ``dataset_version`` record (its ``root`` and table paths).

        Returns:
            The frames table (with ``split``) and the boxes table.
        """
        self.ensure(record["root"])
        self.mirror("frames")
        return (
            lake.read_parquet(lake.as_path(record["frames_table"])),
            lake.read_parquet(lake.as_path(record["boxes_table"])),
        )

    def production_models(self) -> tuple[ModelRegistry, Path]:
        """Return the model registry and the local models folder, pulled from a remote lake.

        TODO(issue 8 follow-up): pull only the production model's folder, not every model.
        """
        return ModelRegistry(self.mirror("registry")), self.mirror("models")

    @contextmanager
    def workspace(self, *parts: str, pull: bool = True, prune: bool = False) -> Iterator[Path]:
        """Yield a local folder for ``parts`` whose changes reach a remote lake when the block ends.

        The folder exists when the block starts. On a local lake it is the lake folder itself.
        On a remote one, the mirror is pulled
        first (unless ``pull`` is False), and after the block succeeds every file written in it
        (or missing in the store) is uploaded; a failed block uploads nothing.

        Args:
            *parts: The prefix the step writes under.
            pull: Fetch what the store already has before the block.
            prune: Delete objects under the prefix that the block removed (only for prefixes
                one step rebuilds whole).
        """
        local = self.mirror(*parts) if pull else self.local_path(*parts)
        local.mkdir(parents=True, exist_ok=True)
        started = lake_mirror.now_for_push()
        yield local
        if self.is_remote():
            lake_mirror.push(local, self.path(*parts), since=started, prune=prune)


class _LakeIOManagerBase(dg.ConfigurableIOManager):
    """Stores asset outputs under ``<lake>/tables/<asset>/<partition><extension>``."""

    root: str = ""

    extension: str = ""

    def _path(self, context: dg.OutputContext | dg.InputContext) -> Path | UPath:
        base = lake.as_path(_resolve_root(self.root)).joinpath("tables", *context.asset_key.path)
        if context.has_asset_partitions:
            keys = context.asset_partition_keys
            if len(keys) != 1:
                raise ValueError(
                    f"{context.asset_key.to_user_string()}: load one partition at a time"
                )
            return base / f"{keys[0]}{self.extension}"
        return base.with_name(base.name + self.extension)

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Write the output atomically."""
        if obj is None:
            return
        path = self._path(context)
        self.dump(path, obj)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        """Read one partition, or a dict partition -> value for a fan-in.

        A fan-in is an unpartitioned step reading a partitioned asset, or an input declared
        with ``allow_missing_partitions`` (a window of days, all sources): it always gets a
        dict, even when only one partition exists yet.
        """
        fan_in = not context.has_partition_key or context.definition_metadata.get(
            "allow_missing_partitions", False
        )
        if context.has_asset_partitions and fan_in:
            return self._load_many(context)
        return self.load(self._path(context))

    def _load_many(self, context: dg.InputContext) -> dict[str, Any]:
        base = lake.as_path(_resolve_root(self.root)).joinpath("tables", *context.asset_key.path)
        loaded: dict[str, Any] = {}
        missing = []
        for key in context.asset_partition_keys:
            path = base / f"{key}{self.extension}"
            if path.exists():
                loaded[key] = self.load(path)
            else:
                missing.append(key)
        if missing:
            # A window of days expects gaps (info); a fan-in over every source does not (warning).
            expected = context.definition_metadata.get("allow_missing_partitions", False)
            log = context.log.info if expected else context.log.warning
            log(
                f"{context.asset_key.to_user_string()}: {len(missing)} of "
                f"{len(context.asset_partition_keys)} partitions not materialized, left out "
                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})"
            )
        return loaded

    def dump(self, path: Path | UPath, obj: Any) -> None:  # noqa: D102
        raise NotImplementedError

    def load(self, path: Path | UPath) -> Any:  # noqa: D102
        raise NotImplementedError


class ParquetIOManager(_LakeIOManagerBase):
    """Stores DataFrame outputs as Parquet tables in the lake."""

    extension: str = ".parquet"

    def dump(self, path: Path | UPath, obj: Any) -> None:
        """Write a DataFrame as Parquet."""
        if not isinstance(obj, pd.DataFrame):
            raise TypeError(f"ParquetIOManager stores DataFrames, got {type(obj).__name__}")
        lake.write_parquet_atomic(path, obj)

    def load(self, path: Path | UPath) -> pd.DataFrame:
        """Read a Parquet table."""
        return lake.read_parquet(path)


class JsonIOManager(_LakeIOManagerBase):
    """Stores small records (dicts) as JSON documents in the lake."""

    extension: str = ".json"

    def dump(self, path: Path | UPath, obj: Any) -> None:
        """Write a JSON document."""
        lake.write_json_atomic(path, obj)

    def load(self, path: Path | UPath) -> Any:
        """Read a JSON document."""
        return json.loads(path.read_text())


class LandingZoneResource(dg.ConfigurableResource):
    """The landing zone dashcams upload to: a local folder or an fsspec URL (``s3://...``).

    Attributes:
        root: Empty means ``$ROADMARK_LANDING`` or ``$ROADMARK_HOME/landing``.
    """

    root: str = ""

    def resolved_root(self) -> str:
        """Return the landing root as a string (local path or URL)."""
        return self.root or os.environ.get("ROADMARK_LANDING") or str(roadmark_home() / "landing")

    def listing(self) -> list[ListedFile]:
        """List every file under the landing root with its size and modification time."""
        root = lake.as_path(self.resolved_root())
        if lake.is_local(root) and not Path(root).exists():
            return []
        fs, base = fsspec.core.url_to_fs(self.resolved_root())
        found = fs.find(base, detail=True)
        entries = []
        for full, info in found.items():
            key = full[len(base) :].lstrip("/") if full.startswith(base) else full
            mtime = info.get("mtime") if lake.is_local(root) else None
            entries.append(
                ListedFile(
                    key=key,
                    size=int(info.get("size") or 0),
                    mtime=float(mtime) if mtime is not None else None,
                )
            )
        return entries

    def sha256(self, key: str) -> str:
        """Hash one landed file's content."""
        digest = hashlib.sha256()
        with lake.as_path(f"{self.resolved_root().rstrip('/')}/{key}").open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


class LabelStudioResource(dg.ConfigurableResource):
    """The Label Studio server annotators work in.

    With ``url`` set (or ``$ROADMARK_LS_URL``) it connects to that server with ``token`` (or
    ``$ROADMARK_LS_TOKEN``). Otherwise it starts a local server on 127.0.0.1 with its data under
    the roadmark home, or reuses the one already running there; the server keeps running after
    the step so annotators can work (``roadmark labelstudio stop`` stops it).

    Attributes:
        url: An existing server's URL; empty means start or reuse a local one.
        token: API token; empty means ``$ROADMARK_LS_TOKEN`` or a generated one kept in data_dir.
        data_dir: The local server's data folder; empty means ``$ROADMARK_HOME/labelstudio``.
        port: Port of the local server; 0 means ``$ROADMARK_LS_PORT`` or 8089.
        project_title: The project roadmark creates and reuses.
    """

    url: str = ""
    token: str = ""
    data_dir: str = ""
    port: int = 0
    project_title: str = "roadmark: road markings"

    def server(self, document_root: Path) -> LabelStudioServer:
        """Return the managed local server (started, or reused when already running)."""
        server = LabelStudioServer(
            self._data_dir(),
            port=self.port or int(os.environ.get("ROADMARK_LS_PORT", DEFAULT_LS_PORT)),
            token=self.token or None,
            document_root=document_root,
        )
        server.start()
        return server

    def _data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else roadmark_home() / "labelstudio"

    def project_if_running(
        self, lake_root: Path, class_names: tuple[str, ...]
    ) -> LabelingProject | None:
        """Return the project when its server is up, without starting one (for sensors)."""
        if not (self.url or os.environ.get("ROADMARK_LS_URL")):
            if not LabelStudioServer(self._data_dir()).is_running():
                return None
        return self.project(lake_root, class_names)

    def project(self, lake_root: Path, class_names: tuple[str, ...]) -> LabelingProject:
        """Connect (starting the local server when needed) and return the roadmark project.

        Args:
            lake_root: The local lake root; the server serves files under it and the project's
                local-files storage covers its ``frames/`` folder.
            class_names: The taxonomy the labeling config is generated from.
        """
        document_root = lake_root
        url = self.url or os.environ.get("ROADMARK_LS_URL", "")
        if url:
            token = self.token or os.environ.get("ROADMARK_LS_TOKEN", "")
        else:
            server = self.server(document_root)
            url, token = server.url, server.token
        client = connect(url, token)
        return LabelingProject.ensure(
            client,
            self.project_title,
            label_config_xml(class_names),
            local_root=lake_root / FRAMES_DIR,
            document_root=lake_root,
        )
