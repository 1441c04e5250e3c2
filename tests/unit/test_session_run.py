"""``Session.run``: each request type runs its stage; anything else is refused in one line naming the requests."""

import importlib
import inspect

import pytest

import antares.pipeline.requests as requests
from antares.errors import UsageError
from antares.pipeline.session import STAGES, Session


def _session(tmp_path):
    return Session(url="postgresql+psycopg2://antares@127.0.0.1:9/none", home=str(tmp_path))  # never connected here


@pytest.mark.parametrize("request_type", sorted(STAGES))
def test_each_request_type_maps_to_the_stage_that_takes_it(request_type):
    assert inspect.isclass(getattr(requests, request_type))
    module, function = STAGES[request_type].split(":")
    stage = getattr(importlib.import_module(module), function)
    assert list(inspect.signature(stage).parameters) == ["settings", "request", "progress"]
    assert inspect.signature(stage).parameters["request"].annotation == request_type


def test_every_request_type_of_the_module_has_a_stage():
    made = {name for name, value in vars(requests).items()
            if inspect.isclass(value) and value.__module__ == requests.__name__ and name.endswith("Request")}
    assert made == set(STAGES)


@pytest.mark.parametrize("given", ["segment", {"product": "b10"}, object()])
def test_anything_but_a_request_is_refused(tmp_path, given):
    with pytest.raises(UsageError) as info:
        _session(tmp_path).run(given)
    message = str(info.value)
    assert "\n" not in message and message.startswith("Session.run takes a request of antares.pipeline.requests (")
    assert all(name in message for name in STAGES) and message.endswith(f"Got {type(given).__name__}.")


def test_a_look_alike_of_another_module_is_refused(tmp_path):
    class ViewRequest:  # the same name, not the validated request
        pass

    with pytest.raises(UsageError, match="Got ViewRequest."):
        _session(tmp_path).run(ViewRequest())
