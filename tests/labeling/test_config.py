"""The labeling config is generated from the taxonomy and read back in the same order."""

from __future__ import annotations

import pytest

from roadmark_pipeline.labeling.config import (
    LabelConfigError,
    box_label_name,
    label_config_xml,
    parse_label_config,
)
from roadmark_pipeline.taxonomy import class_names


@pytest.mark.parametrize("borderline", [True, False])
def test_generated_config_reads_back_in_taxonomy_order(borderline: bool) -> None:
    xml = label_config_xml(class_names(), borderline=borderline)
    assert parse_label_config(xml) == list(class_names())
    assert ('perRegion="true"' in xml) is borderline
    assert box_label_name(xml) == "label"


def test_names_with_xml_characters_survive() -> None:
    names = ['a "quoted" one', "b&c", "<d>"]
    assert parse_label_config(label_config_xml(names)) == names


def test_r07_config_order_is_config_order_not_alphabetical(cases_dir) -> None:
    xml = (cases_dir / "R07" / "label_config.xml").read_text()
    assert parse_label_config(xml) == ["pedestrian", "car", "traffic_light", "bus"]


def test_labels_with_rectangle_tool_is_read_too() -> None:
    xml = (
        '<View><Image name="img" value="$image"/><Rectangle name="box" toName="img"/>'
        '<Labels name="cls" toName="img"><Label value="z"/><Label value="a"/></Labels></View>'
    )
    assert parse_label_config(xml) == ["z", "a"]
    assert box_label_name(xml) == "cls"


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<View><Image name='i' value='$image'/>", "not valid XML"),  # unclosed tag
        ("", "not valid XML"),  # empty text
        ("<View><Image name='i' value='$image'/></View>", "no <RectangleLabels>"),
        (  # a Labels tag without a Rectangle tool is a classification, not boxes
            "<View><Image name='i' value='$image'/>"
            "<Labels name='l' toName='i'><Label value='a'/></Labels></View>",
            "no <RectangleLabels>",
        ),
        (
            "<View><RectangleLabels name='a' toName='i'><Label value='x'/></RectangleLabels>"
            "<RectangleLabels name='b' toName='i'><Label value='y'/></RectangleLabels></View>",
            "2 box-label tags",
        ),
        ("<View><RectangleLabels name='a' toName='i'/></View>", "has no labels"),
        (
            "<View><RectangleLabels name='a' toName='i'><Label value='x'/><Label value='x'/>"
            "</RectangleLabels></View>",
            "repeats a label",
        ),
    ],
)
def test_bad_configs_give_a_clear_error(xml: str, message: str) -> None:
    with pytest.raises(LabelConfigError, match=message):
        parse_label_config(xml)


@pytest.mark.parametrize("names", [[], ["a", "a"]])
def test_bad_class_lists_are_refused(names: list[str]) -> None:
    with pytest.raises(LabelConfigError):
        label_config_xml(names)
