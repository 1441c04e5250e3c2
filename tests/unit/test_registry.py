"""antares.registry.Registry: lookups, order, description, and plugins from entry points (good and broken)."""

import logging
import sys

import pytest

from antares.errors import UsageError
from antares.registry import Param, Registry


def test_lookup_iteration_and_lazy_builtins():
    reg = Registry("antares.test-none", "example", {"one": 1, "join": "os.path:join"})
    assert list(reg) == ["one", "join"] and len(reg) == 2 and "join" in reg and "two" not in reg
    import os.path

    assert reg.get("join") is os.path.join and reg["one"] == 1
    with pytest.raises(KeyError):
        reg["two"]
    with pytest.raises(UsageError) as info:
        reg.get("two")
    assert str(info.value) == "unknown example 'two'; valid examples: one, join." and info.value.exit_code == 2
    with pytest.raises(UsageError, match=r"^unknown algorithm 'two'; valid algorithms: one, join\.$"):
        reg.get("two", noun="algorithm")
    reg.register("three", 3)
    assert list(reg) == ["one", "join", "three"]
    with pytest.raises(UsageError, match="example 'one' is already registered"):
        reg.register("one", 0)


def test_describe():
    class Plugin:
        """First line of the docstring.

        More.
        """

        params = (Param("k", int, 1, "int", int),)

    class Described:
        description = "its own description"
        reference = "Someone 2001"

    reg = Registry("antares.test-none", "thing", {"p": Plugin, "d": Described})
    assert reg.describe("p") == {"name": "p", "description": "First line of the docstring.", "reference": None,
                                 "params": Plugin.params}
    assert reg.describe("d") == {"name": "d", "description": "its own description", "reference": "Someone 2001",
                                 "params": ()}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A fake installed distribution on sys.path declaring entry points in the group 'antares.test-plugins'."""
    (tmp_path / "fake_plugins.py").write_text("good = 'a good plugin'\nnumber = 42\nraise_on = None\n")
    (tmp_path / "fake_broken.py").write_text("raise RuntimeError('cannot import\\nthis module')\n")
    info = tmp_path / "fake_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[antares.test-plugins]\n"
        "good = fake_plugins:good\n"
        "number = fake_plugins:number\n"
        "missing = fake_plugins:nothing_here\n"
        "crash = fake_broken:anything\n"
        "one = fake_plugins:good\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for module in ("fake_plugins", "fake_broken"):
        sys.modules.pop(module, None)


def test_entry_points_add_plugins_and_broken_ones_warn(installed, caplog):
    reg = Registry("antares.test-plugins", "example", {"one": "builtin"},
                   accepts=lambda name, plugin: isinstance(plugin, str))
    with caplog.at_level(logging.WARNING, logger="antares.registry"):
        assert reg.get("one") == "builtin" and "one" in reg  # a built-in lookup does not read the entry points
        assert caplog.records == []
        assert list(reg) == ["one", "good"]
    assert reg.get("good") == "a good plugin" and reg.get("one") == "builtin"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "example plugin 'crash' (fake_broken:anything, package fake-plugins) is ignored: it failed to load "
        "(RuntimeError: cannot import this module).",
        "example plugin 'missing' (fake_plugins:nothing_here, package fake-plugins) is ignored: it failed to load "
        "(AttributeError: module 'fake_plugins' has no attribute 'nothing_here').",
        "example plugin 'number' (fake_plugins:number, package fake-plugins) is ignored: 42 is not a valid example.",
        "example plugin 'one' (fake_plugins:good, package fake-plugins) is ignored: the name 'one' is already taken.",
    ]
    assert all("\n" not in line for line in lines)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="antares.registry"):
        assert list(reg) == ["one", "good"]  # read once per registry: no second warning
    assert caplog.records == []


def test_the_families_are_registries():
    from antares.models.registry import MODELS
    from antares.prepare import PREPARERS
    from antares.recipes.indices import INDICES
    from antares.recipes.reducers import REDUCERS
    from antares.segmentation import SEGMENTERS

    assert [(r.group, r.noun, r.plural) for r in (PREPARERS, SEGMENTERS, MODELS, INDICES, REDUCERS)] == [
        ("antares.preparers", "preparer", "preparers"), ("antares.segmenters", "segmenter", "segmenters"),
        ("antares.models", "model", "models"), ("antares.indices", "index", "indices"),
        ("antares.reducers", "reducer", "reducers")]
    assert list(REDUCERS) == ["mean", "median", "min", "max", "std", "count", "doy_max"]
    assert list(PREPARERS) == ["dem", "netcdf", "s1_grd", "s2_bands", "s2_l1c_safe", "s2_l2a_safe", "stac"]
    assert list(MODELS) == ["rf", "lightgbm", "xgb", "pse_tae", "ltae", "tempcnn"]
    with pytest.raises(UsageError, match=r"^unknown index 'NDXI'; valid indices: NDVI, NDMI, "):
        INDICES.get("NDXI")
