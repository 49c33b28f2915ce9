"""The demo driver's plumbing: failures name the step and the cause; configs merge."""

import dagster as dg
import pytest

from roadmark_pipeline.demo_steps import DemoContext, DemoStepError, merge_config


@dg.op
def broken_step() -> None:
    raise ValueError("port 8089 on 127.0.0.1 is taken")


@dg.job
def broken_job() -> None:
    broken_step()


def test_a_failed_run_names_its_step_and_the_cause():
    with dg.instance_for_test() as instance:
        context = DemoContext(instance=instance, defs=dg.Definitions(jobs=[broken_job]))
        with pytest.raises(DemoStepError) as raised:
            context.run("broken_job")
    message = str(raised.value)
    assert "broken_job failed: step broken_step:" in message
    assert "port 8089 on 127.0.0.1 is taken" in message
    assert "\n" not in message  # one line, no traceback


@pytest.mark.parametrize(
    ("base", "override", "expected"),
    [
        (
            {"ops": {"a": {"config": {"x": 1}}}},
            {"ops": {"b": {"config": {"y": 2}}}},
            {"ops": {"a": {"config": {"x": 1}}, "b": {"config": {"y": 2}}}},
        ),
        (
            {"ops": {"a": {"config": {"x": 1, "z": 3}}}},
            {"ops": {"a": {"config": {"x": 9}}}},
            {"ops": {"a": {"config": {"x": 9, "z": 3}}}},
        ),  # the override wins key by key
        ({}, {"loggers": {"console": {}}}, {"loggers": {"console": {}}}),
    ],
)
def test_merge_config(base, override, expected):
    assert merge_config(base, override) == expected
