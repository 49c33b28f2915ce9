"""The trust anchor: a wrong --trusted-root never sticks, a corrupted stored root says so and is
replaced by a good one, and a valid stored root is replaced only on an explicit --reprovision."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetson_runtime.slots import DeviceLayout
from roadmark_pipeline.localserve import StaticServer
from roadmark_pipeline.release.tuf_repo import TufRepository

pytestmark = pytest.mark.integration


def _update(edge, server, device: Path, *extra: str):
    return edge("update", "--repo", server.url, "--device-dir", str(device), *extra)


def _one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def other_repository(tmp_path: Path) -> TufRepository:
    """A second repository with its own keys: its root is valid, but not the first one's."""
    repo = TufRepository(tmp_path / "other" / "repo", tmp_path / "other" / "keys")
    repo.initialise()
    return repo


def test_a_wrong_first_root_does_not_brick_the_device(
    make_release, repository, server, edge, device: Path, tmp_path: Path
) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    text = tmp_path / "text.mp4"
    text.write_text("a video, supposedly")

    wrong = _update(edge, server, device, "--trusted-root", str(text))
    assert wrong.returncode == 3 and wrong.out["reason"] == "bad_root"
    assert "not JSON" in _one_line(wrong)
    assert not device.exists()

    right = _update(edge, server, device, "--trusted-root", str(repository.trusted_root_path))
    assert right.returncode == 0, right.stderr
    assert DeviceLayout(device).current_version() == "1.0.0"


def test_a_valid_root_of_another_repository_is_not_kept(
    make_release, repository, other_repository, server, edge, device: Path
) -> None:
    repository.publish(make_release("1.0.0"), "stable")

    foreign = _update(
        edge, server, device, "--trusted-root", str(other_repository.trusted_root_path)
    )
    assert foreign.returncode == 3 and foreign.out["reason"] == "forged"
    assert "does not sign this repository's metadata" in _one_line(foreign)
    assert not device.exists()  # the root never verified the repository: not stored

    # No --reprovision needed: nothing was trusted yet.
    right = _update(edge, server, device, "--trusted-root", str(repository.trusted_root_path))
    assert right.returncode == 0, right.stderr


@pytest.mark.parametrize("damage", ["garbage", "truncated", "emptied"])
def test_a_corrupted_stored_root_says_so_and_is_replaced(
    damage: str, make_release, repository, server, edge, device: Path
) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    root = str(repository.trusted_root_path)
    assert _update(edge, server, device, "--trusted-root", root).returncode == 0
    tuf = DeviceLayout(device).tuf_dir
    for stored in (tuf / "trusted_root.json", tuf / "metadata" / "root.json"):
        data = stored.read_bytes()
        stored.write_bytes({"garbage": b"\x00junk", "truncated": data[:40], "emptied": b""}[damage])
    repository.publish(make_release("1.1.0", scale=1.05), "stable")

    refused = _update(edge, server, device)
    assert refused.returncode == 3 and refused.out["reason"] == "bad_root"
    line = _one_line(refused)
    assert "stored trusted root is invalid" in line and "trusted_root.json" in line
    assert "pass --trusted-root FILE to replace it" in line
    assert "repository metadata is invalid" not in line  # the repository is not blamed

    fixed = _update(edge, server, device, "--trusted-root", root)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.out["version"] == "1.1.0"
    assert (tuf / "trusted_root.json").read_bytes() == repository.trusted_root_path.read_bytes()
    assert _update(edge, server, device).out["status"] == "up_to_date"


def test_a_valid_stored_root_is_replaced_only_on_reprovision(
    make_release, repository, other_repository, server, edge, device: Path
) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    ours = str(repository.trusted_root_path)
    theirs = str(other_repository.trusted_root_path)
    assert _update(edge, server, device, "--trusted-root", ours).returncode == 0
    anchor = DeviceLayout(device).tuf_dir / "trusted_root.json"
    trusted = anchor.read_bytes()

    # The same root again is fine (a provisioning script may always pass it).
    assert _update(edge, server, device, "--trusted-root", ours).out["status"] == "up_to_date"

    conflict = _update(edge, server, device, "--trusted-root", theirs)
    assert conflict.returncode == 3 and conflict.out["reason"] == "root_conflict"
    assert "add --reprovision" in _one_line(conflict)
    assert anchor.read_bytes() == trusted

    # Reprovisioning with a root that does not sign this repository: refused, old trust kept.
    wrong = _update(edge, server, device, "--trusted-root", theirs, "--reprovision")
    assert wrong.returncode == 3 and wrong.out["reason"] == "forged"
    assert anchor.read_bytes() == trusted
    assert _update(edge, server, device).out["status"] == "up_to_date"

    # Moving the device to the other repository on purpose.
    other_repository.publish(make_release("2.0.0", scale=1.1), "stable")
    with StaticServer(other_repository.repo_dir) as other_server:
        moved = _update(edge, other_server, device, "--trusted-root", theirs, "--reprovision")
        assert moved.returncode == 0, moved.stderr
        assert moved.out["version"] == "2.0.0"
        assert _update(edge, other_server, device).out["status"] == "up_to_date"
    assert anchor.read_bytes() == other_repository.trusted_root_path.read_bytes()


def test_an_unreachable_repository_names_the_url_and_the_reason(
    make_release, repository, server, edge, device: Path
) -> None:
    repository.publish(make_release("1.0.0"), "stable")
    assert (
        _update(
            edge, server, device, "--trusted-root", str(repository.trusted_root_path)
        ).returncode
        == 0
    )
    server.stop()

    result = _update(edge, server, device)
    assert result.returncode == 3 and result.out["reason"] == "unreachable"
    line = _one_line(result)  # no urllib3 retry warnings around it
    assert server.url in line and "(Connection refused)" in line and "()" not in line
