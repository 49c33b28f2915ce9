"""The labeling config is generated from the taxonomy and read back in the same order."""

from __future__ import annotations

import re

import pytest

from roadmark_pipeline.labeling.config import (
    LabelConfigError,
    box_label_name,
    class_names_from_text,
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


def test_r05_class_list_reads_as_the_classes(cases_dir) -> None:
    text = (cases_dir / "R05" / "classes.txt").read_text()
    assert class_names_from_text(text) == ["car"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("white_line\nyellow_line\n", ["white_line", "yellow_line"]),
        ("\ufeff# ids follow the lines\n\n a \nb\r\nc\n\n", ["a", "b", "c"]),
        ("traffic light\nbus", ["traffic light", "bus"]),
    ],
)
def test_plain_class_lists_keep_their_line_order(text: str, names: list[str]) -> None:
    assert class_names_from_text(text) == names


def test_xml_is_still_read_as_a_labeling_config() -> None:
    xml = label_config_xml(["b", "a"])
    assert class_names_from_text("\n  " + xml) == ["b", "a"]
    with pytest.raises(LabelConfigError, match="not valid XML"):
        class_names_from_text("<View><RectangleLabels>")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "class list is empty"),
        ("\n# only a comment\n", "empty"),
        ("a\nb\na\n", "repeats ['a']"),
    ],
)
def test_bad_class_list_files_are_refused(text: str, says: str) -> None:
    with pytest.raises(LabelConfigError, match=re.escape(says)):
        class_names_from_text(text)
