"""The class taxonomy: one ordered list that every room reads its class ids from.

The order in ``classes.txt`` is the contract: YOLO ids, the Label Studio config, the model's
output channels, the OTA bundle and the edge runtime all follow it. Ids never come from an
export's own numbering.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

TAXONOMY_FILE = "classes.txt"


@cache
def class_names() -> tuple[str, ...]:
    """Return the class names in id order, as shipped in the package.

    Returns:
        The six road-marking classes, index = class id.
    """
    text = resources.files("roadmark_pipeline").joinpath(TAXONOMY_FILE).read_text("utf-8")
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(set(names)) != len(names):
        raise ValueError(f"{TAXONOMY_FILE} lists a class twice: {names}; keep each name once")
    return names


def class_id(name: str, names: tuple[str, ...] | None = None) -> int:
    """Return the id of a class name.

    Args:
        name: A class name such as ``"guardrail"``.
        names: The ordered taxonomy to look in; the package taxonomy when omitted.

    Returns:
        The index of ``name`` in the taxonomy.

    Raises:
        KeyError: When ``name`` is not in the taxonomy; the message lists the valid names.
    """
    names = names or class_names()
    try:
        return names.index(name)
    except ValueError:
        raise KeyError(f"unknown class {name!r}; the taxonomy has {list(names)}") from None
