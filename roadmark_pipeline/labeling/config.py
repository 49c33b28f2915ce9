"""The Label Studio labeling config: generated from the class taxonomy, parsed back for class ids.

The config is the only place class ids come from when an export is converted: the order of the
``<Label>`` tags inside ``<RectangleLabels>`` is the id order. Label Studio's own YOLO export
renumbers classes alphabetically, so it is never used.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

# Names of the tags in the generated config; the converters read results by these names.
IMAGE_NAME = "image"
BOXES_NAME = "label"
BORDERLINE_NAME = "borderline"
BORDERLINE_CHOICE = "borderline"

# Distinct colours per class so annotators tell the boxes apart (cycled past six classes).
_COLOURS = ("#e6194b", "#3cb44b", "#ffe119", "#f58231", "#4363d8", "#911eb4", "#42d4f4")


class LabelConfigError(ValueError):
    """A labeling config that cannot be read or has no box labels."""


def label_config_xml(class_names: Sequence[str], *, borderline: bool = True) -> str:
    """Build the Label Studio labeling config for our boxes.

    Args:
        class_names: Class names in id order (``taxonomy.class_names()``).
        borderline: Add a per-region "borderline" choice that annotators tick on a box they are
            unsure belongs to its class (faint, partly hidden, almost out of scope).

    Returns:
        The XML text: an ``Image`` named ``image`` bound to ``$image``, ``RectangleLabels`` named
        ``label`` with one ``Label`` per class in taxonomy order and, optionally, a per-region
        ``Choices`` named ``borderline``.

    Raises:
        LabelConfigError: When ``class_names`` is empty or names a class twice.
    """
    names = [str(name) for name in class_names]
    if not names:
        raise LabelConfigError("no class names given; pass the taxonomy (taxonomy.class_names())")
    if len(set(names)) != len(names):
        raise LabelConfigError(f"class names repeat: {names}; each class must appear once")

    labels = "\n".join(
        f"    <Label value={quoteattr(name)} background={quoteattr(_COLOURS[i % len(_COLOURS)])}/>"
        for i, name in enumerate(names)
    )
    lines = [
        "<View>",
        f'  <Image name="{IMAGE_NAME}" value="$image" zoom="true" zoomControl="true"/>',
        f'  <RectangleLabels name="{BOXES_NAME}" toName="{IMAGE_NAME}" strokeWidth="2">',
        labels,
        "  </RectangleLabels>",
    ]
    if borderline:
        lines += [
            '  <View visibleWhen="region-selected">',
            '    <Header value="Is this box borderline?"/>',
            f'    <Choices name="{BORDERLINE_NAME}" toName="{IMAGE_NAME}" perRegion="true"'
            ' choice="multiple">',
            f'      <Choice value="{BORDERLINE_CHOICE}"/>',
            "    </Choices>",
            "  </View>",
        ]
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def parse_label_config(xml: str) -> list[str]:
    """Return the class names of a labeling config's box labels, in config order.

    The index of a name in the returned list is its class id. ``RectangleLabels`` is read first;
    a config that pairs a plain ``Labels`` tag with a ``Rectangle`` tool is read the same way.

    Args:
        xml: The labeling config text.

    Returns:
        The ``value`` of every ``Label`` inside the box-label tag, in order.

    Raises:
        LabelConfigError: When the XML is malformed, has no box labels, has two box-label tags,
            or a label has no value or repeats.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        raise LabelConfigError(
            f"labeling config is not valid XML ({error}); pass the config from the project "
            "settings or label_config_xml()"
        ) from None

    tags = _box_label_tags(root)
    if not tags:
        raise LabelConfigError(
            "labeling config has no <RectangleLabels> (nor <Labels> with a <Rectangle>); "
            "a detection project needs one — build it with label_config_xml(class_names)"
        )
    if len(tags) > 1:
        found = [tag.get("name") for tag in tags]
        raise LabelConfigError(
            f"labeling config has {len(tags)} box-label tags {found}; keep exactly one so class "
            "ids are unambiguous"
        )

    names = [label.get("value") for label in tags[0].iter("Label")]
    if not names or any(not name for name in names):
        raise LabelConfigError(
            f"<{tags[0].tag} name={tags[0].get('name')!r}> has no labels or a <Label> without "
            'value; every class needs <Label value="name"/>'
        )
    if len(set(names)) != len(names):
        raise LabelConfigError(f"labeling config repeats a label: {names}")
    return [str(name) for name in names]


def class_names_from_text(text: str) -> list[str]:
    """Return class names in id order from a labeling config XML or a plain class list.

    Text whose first non-blank character is ``<`` is read as a Label Studio labeling config
    (:func:`parse_label_config`); anything else as a class list, one name per line (the
    ``classes.txt`` of YOLO tools), blank lines and ``#`` comments skipped.

    Args:
        text: The file's text.

    Returns:
        Class names; the index of a name is its class id.

    Raises:
        LabelConfigError: When the XML is not a usable config, or the list is empty or repeats
            a name.
    """
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith("<"):
        return parse_label_config(text)
    names = [line.strip() for line in text.splitlines()]
    names = [name for name in names if name and not name.startswith("#")]
    if not names:
        raise LabelConfigError(
            "class list is empty; write one class name per line, or pass the project's labeling "
            "config XML"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise LabelConfigError(
            f"class list repeats {repeated}; each class must appear once (its line is its id)"
        )
    return names


def box_label_name(xml: str) -> str:
    """Return the ``name`` of the box-label tag (``from_name`` of box results).

    Args:
        xml: The labeling config text.

    Returns:
        The tag's ``name`` attribute, ``"label"`` in configs built by :func:`label_config_xml`.
    """
    parse_label_config(xml)
    tag = _box_label_tags(ET.fromstring(xml))[0]
    return str(tag.get("name") or BOXES_NAME)


def _box_label_tags(root: ET.Element) -> list[ET.Element]:
    """Find the tags whose labels name boxes: RectangleLabels, or Labels next to a Rectangle."""
    rectangle_labels = list(root.iter("RectangleLabels"))
    if rectangle_labels:
        return rectangle_labels
    rectangle_targets = {tag.get("toName") for tag in root.iter("Rectangle")}
    return [tag for tag in root.iter("Labels") if tag.get("toName") in rectangle_targets]
