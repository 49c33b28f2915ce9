"""A device never installs what it cannot verify: forged, tampered, truncated, outdated,
expired, rolled-back or mixed-up releases are refused with a clear message, and the running
release stays current and runnable."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from jetson_runtime.bundle import MANIFEST, PROBE_EXPECTED, load_bundle, make_manifest
from jetson_runtime.slots import DeviceLayout

pytestmark = pytest.mark.integration


def _stored(repository, version: str, name: str) -> Path:
    """The hash-prefixed file the server holds for a release file."""
    matches = list((repository.targets_dir / "releases" / version).glob(f"*.{name}"))
    assert len(matches) == 1
    return matches[0]


@pytest.fixture
def installed(make_release, repository, server, edge, device):
    """A device running 1.0.0 from the served repository."""
    repository.publish(make_release("1.0.0"), "stable")
    done = edge(
        "update", "--repo", server.url, "--device-dir", str(device),
        "--trusted-root", str(repository.trusted_root_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return device


def _update(edge, server, device, *extra: str):
    return edge("update", "--repo", server.url, "--device-dir", str(device), *extra)


def _assert_refused(result, reason: str, device: Path, words: str) -> None:
    assert result.returncode == 3, result.stderr
    assert result.out["status"] == "refused" and result.out["reason"] == reason, result.out
    assert words in result.out["message"]
    layout = DeviceLayout(device)
    assert layout.current_version() == "1.0.0"
    load_bundle(layout.current() / "bundle")  # still verifies: the device can run it
    assert not any(layout.staging.iterdir())


@pytest.mark.parametrize(
    ("attack", "words"),
    [
        ("flip_bytes", "length/hash differs"),  # tampered model on the server
        ("truncate", "length"),  # a download cut short / a truncated upload
        ("swap_old_model", "length/hash differs"),  # mix-and-match: 1.0.0's model as 1.1.0's
    ],
)
def test_tampered_target_files_are_refused(
    attack: str, words: str, installed, make_release, repository, server, edge
) -> None:
    repository.publish(make_release("1.1.0", scale=1.05), "stable")
    target = _stored(repository, "1.1.0", "model.onnx")
    data = target.read_bytes()
    if attack == "flip_bytes":
        target.write_bytes(data[:-64] + bytes(b ^ 0xFF for b in data[-64:]))
    elif attack == "truncate":
        target.write_bytes(data[: len(data) // 2])
    else:
        target.write_bytes(_stored(repository, "1.0.0", "model.onnx").read_bytes())

    _assert_refused(_update(edge, server, installed), "mismatch", installed, words)


def test_forged_timestamp_is_refused(installed, repository, server, edge) -> None:
    path = repository.metadata_dir / "timestamp.json"
    forged = Metadata.from_file(str(path))
    forged.signed.version += 1
    forged.signatures.clear()
    forged.sign(CryptoSigner.generate_ed25519())  # the attacker's own key
    path.write_bytes(forged.to_bytes(JSONSerializer()))

    _assert_refused(_update(edge, server, installed), "forged", installed, "forged metadata")


def test_targets_signed_without_the_targets_key_are_refused(
    installed, make_release, repository, server, edge
) -> None:
    # The attacker holds the snapshot and timestamp keys, not the targets key.
    real = repository.signer
    repository.signer = lambda role: (  # type: ignore[method-assign]
        CryptoSigner.generate_ed25519() if role == "targets" else real(role)
    )
    repository.publish(make_release("1.1.0", scale=1.05), "stable")

    _assert_refused(_update(edge, server, installed), "forged", installed, "forged metadata")


def test_replayed_old_metadata_is_refused(installed, make_release, repository, server, edge):
    old_timestamp = (repository.metadata_dir / "timestamp.json").read_bytes()
    repository.publish(make_release("1.1.0", scale=1.05), "canary")
    assert _update(edge, server, installed).returncode == 0  # sees the newer timestamp
    (repository.metadata_dir / "timestamp.json").write_bytes(old_timestamp)  # freeze/replay

    _assert_refused(_update(edge, server, installed), "rollback", installed, "older metadata")


def test_expired_metadata_is_refused(installed, make_release, repository, server, edge) -> None:
    repository.expiry["timestamp"] = timedelta(seconds=-5)  # a repository left unsigned
    repository.publish(make_release("1.1.0", scale=1.05), "stable")

    _assert_refused(_update(edge, server, installed), "expired", installed, "expired")


def test_mixed_metadata_is_refused(installed, make_release, repository, server, edge) -> None:
    repository.publish(make_release("1.1.0", scale=1.05), "stable")
    # Serve the previous publication's targets under the new version's name.
    newest = max(
        repository.metadata_dir.glob("*.targets.json"), key=lambda p: int(p.name.split(".")[0])
    )
    older = repository.metadata_dir / f"{int(newest.name.split('.')[0]) - 1}.targets.json"
    newest.write_bytes(older.read_bytes())

    _assert_refused(_update(edge, server, installed), "mismatch", installed, "length/hash")


def test_outdated_release_is_refused(make_release, repository, server, edge, device) -> None:
    repository.publish(make_release("1.1.0", scale=1.05), "stable")
    first = edge(
        "update", "--repo", server.url, "--device-dir", str(device),
        "--trusted-root", str(repository.trusted_root_path),
    )  # fmt: skip
    assert first.returncode == 0
    repository.publish(make_release("1.0.0"), "stable", allow_downgrade=True)

    result = _update(edge, server, device)
    assert result.returncode == 3 and result.out["reason"] == "outdated"
    assert "older than the running 1.1.0" in result.out["message"]
    assert DeviceLayout(device).current_version() == "1.1.0"


def test_unhealthy_release_is_refused(installed, make_release, repository, server, edge) -> None:
    # A pipeline bug: probe expectations that the model does not produce, signed and published.
    release = make_release("1.1.0", scale=1.05)
    expected = json.loads((release / PROBE_EXPECTED).read_text())
    expected["frames"][0]["detections"] = []
    (release / PROBE_EXPECTED).write_text(json.dumps(expected))
    manifest = json.loads((release / MANIFEST).read_text())
    remade = make_manifest(
        release, version="1.1.0", lineage=manifest["lineage"],
        min_runtime_version=manifest["min_runtime_version"], wheel=manifest["runtime_wheel"],
    )  # fmt: skip
    (release / MANIFEST).write_text(json.dumps(remade))
    repository.publish(release, "stable")

    _assert_refused(_update(edge, server, installed), "unhealthy", installed, "unexpected")


def test_unpublished_channel_and_unreachable_repository(installed, server, edge) -> None:
    result = _update(edge, server, installed, "--channel", "canary")
    _assert_refused(result, "missing", installed, "channels/canary.json")

    server.stop()
    result = _update(edge, server, installed)
    _assert_refused(result, "unreachable", installed, "cannot be reached")


def test_first_update_needs_a_trusted_root(server, edge, device) -> None:
    result = _update(edge, server, device)
    assert result.returncode == 3 and result.out["reason"] == "no_root"
    assert "--trusted-root" in result.out["message"]


def test_republishing_a_version_with_other_content_is_refused(make_release, repository) -> None:
    from roadmark_pipeline.release.tuf_repo import PublishError

    repository.publish(make_release("1.0.0"), "stable")
    with pytest.raises(PublishError, match="immutable"):
        repository.publish(make_release("1.0.0", scale=1.1), "canary")
    with pytest.raises(PublishError, match="unknown"):
        repository.publish(make_release("1.0.0"), "beta")
