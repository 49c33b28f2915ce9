"""Small helpers around the Label Studio SDK: short errors and annotator users."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from roadmark_pipeline.labeling.server import LabelStudioError

LOG = logging.getLogger(__name__)

ANNOTATOR_DOMAIN = "annotators.roadmark.local"
T = TypeVar("T")


class LabelingError(LabelStudioError):
    """A labeling request that Label Studio refused, or input it cannot take."""


def api_call(what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an SDK method; turn its errors into one-line :class:`LabelingError` messages.

    The SDK's own errors print every response header; ours name the action, the status and
    Label Studio's reason.

    Args:
        what: What the call does, for the message ("import tasks").
        call: The SDK method.
        *args: Its positional arguments.
        **kwargs: Its keyword arguments.

    Returns:
        What the SDK method returns.

    Raises:
        LabelingError: When Label Studio answers with an error or cannot be reached.
    """
    from label_studio_sdk.core.api_error import ApiError

    try:
        return call(*args, **kwargs)
    except ApiError as error:
        raise LabelingError(f"{what}: HTTP {error.status_code} {_reason(error.body)}") from None
    except httpx.HTTPError as error:
        raise LabelingError(
            f"{what}: Label Studio unreachable ({type(error).__name__}); is the server running?"
        ) from None


def _reason(body: Any) -> str:
    if isinstance(body, dict):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(str(body["validation_errors"]))
        return " ".join(part for part in parts if part)[:500]
    return str(body)[:500]


def annotator_email(annotator: str) -> str:
    """Return the e-mail that identifies an annotator; a bare name gets the local domain.

    Args:
        annotator: An e-mail, or a name such as ``"sim-annotator-1"``.

    Returns:
        The e-mail, for example ``"sim-annotator-1@annotators.roadmark.local"``.
    """
    return annotator if "@" in annotator else f"{annotator}@{ANNOTATOR_DOMAIN}"


def ensure_annotator(
    client: Any, annotator: str, *, first_name: str = "", last_name: str = ""
) -> int:
    """Return the id of the Label Studio user for an annotator, creating the user if needed.

    The user joins the organisation of the token's owner, so annotations can be attributed to
    it (``completed_by``). It gets a random password nobody knows: an admin sets one for people.

    Args:
        client: A ``label_studio_sdk.LabelStudio`` client with admin rights.
        annotator: The annotator's e-mail (or bare name, see :func:`annotator_email`).
        first_name: First name shown in Label Studio.
        last_name: Last name shown in Label Studio.

    Returns:
        The user id.
    """
    email = annotator_email(annotator)
    for user in api_call("list users", client.users.list):
        if (user.email or "").lower() == email.lower():
            return int(user.id)
    user = api_call(
        f"create user {email}",
        client.users.create,
        username=email.split("@")[0][:150],
        email=email,
        first_name=first_name or email.split("@")[0],
        last_name=last_name,
        password=secrets.token_urlsafe(24),
    )
    LOG.info("created Label Studio user %s (id %d)", email, user.id)
    return int(user.id)
