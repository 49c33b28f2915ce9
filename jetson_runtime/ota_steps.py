"""What every step of an over-the-air update shares: the refusal error and the crash-test hook.

For tests, ``ROADMARK_EDGE_CRASH_AT=<step>`` makes the updater kill itself (SIGKILL) at that step.
"""

from __future__ import annotations

import logging
import os
import signal

LOG = logging.getLogger(__name__)

CRASH_ENV = "ROADMARK_EDGE_CRASH_AT"
STEPS = ("refreshed", "downloaded", "installed", "healthy", "slotted", "previous_set", "switched")


class UpdateError(RuntimeError):
    """An update that was refused or failed; the running release is untouched.

    Attributes:
        reason: A short code: ``forged``, ``rollback``, ``expired``, ``mismatch``, ``missing``,
            ``unreachable``, ``outdated``, ``bad_version``, ``invalid``, ``unhealthy``,
            ``no_root``, ``bad_root`` (a root file that is not a usable TUF root, given or
            stored), ``root_conflict`` (a different root given without ``--reprovision``),
            ``busy``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def checkpoint(step: str) -> None:
    """Mark a step of the update; the crash-test hook kills the process here when asked."""
    LOG.debug("update step %s", step)
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
