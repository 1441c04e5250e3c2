"""The name rule, the containment of product directories, and the cutting of echoed values (no database)."""

import os
import re

import pytest

from antares.errors import InvalidInputError, UsageError, clip_message, shorten
from antares.names import check_name, inside, name_problem, product_dir


@pytest.mark.parametrize("name", ["map_2018", "A", "x" * 63, "_", "2018", "s2_001_jalisco_2021"])
def test_names_that_follow_the_rule(name):
    assert check_name(name) == name
    assert name_problem(name) is None
    assert re.fullmatch(r"\w+", name)  # ODC's product-name rule accepts every one of them


@pytest.mark.parametrize("name", ["", "a b", "../../x", "/abs/path/x", "x" * 64, "a.b", "a-b", "a/b", "é", "名前",
                                  "x;drop", ".", "..", "a\nb", None, 3])
def test_names_that_break_the_rule(name):
    with pytest.raises(UsageError) as err:
        check_name(name, "-n")
    message = str(err.value)
    assert message.startswith("-n must be a name of 1 to 63 ASCII letters, digits and underscores. Got ")
    assert err.value.exit_code == 2
    suggestion = message.rsplit("for example ", 1)[1].rstrip(".")
    assert check_name(suggestion) == suggestion  # the example given follows the rule


def test_a_huge_name_is_echoed_cut():
    message = name_problem("n" * 10_000)
    assert len(message) < 600 and "more characters)" in message


def test_inside_follows_links_and_dotdot(tmp_path):
    root = tmp_path / "home" / "products"
    root.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (root / "linked").symlink_to(tmp_path / "elsewhere")
    (root / "real").mkdir()
    assert inside(root / "real", root) == (root / "real").resolve()
    assert inside(root / "new" / "deeper", root) == (root / "new" / "deeper").resolve()  # need not exist
    for escaping in (root / "linked", root / "linked" / "x", root / ".." / "x", root / "real" / ".." / ".." / "x"):
        # independent: os.path.realpath says where it really is
        assert not os.path.realpath(escaping).startswith(os.path.realpath(root) + os.sep)
        with pytest.raises(InvalidInputError, match="outside"):
            inside(escaping, root)


def test_product_dir(tmp_path):
    home = tmp_path / "home"
    assert product_dir(home, "map_2018") == (home / "products" / "map_2018").resolve()
    assert product_dir(home, "map_2018", tmp_path / "out" / ".." / "chosen") == (tmp_path / "chosen").resolve()
    with pytest.raises(UsageError):
        product_dir(home, "../../x")
    with pytest.raises(UsageError):
        product_dir(home, "x/y", tmp_path)  # the name is checked with --outdir too
    (home / "products").mkdir(parents=True)
    (home / "products" / "map_2018").symlink_to(tmp_path)
    with pytest.raises(InvalidInputError, match=f"resolves to {tmp_path}, outside {home / 'products'}"):
        product_dir(home, "map_2018")


def test_clip_message_cuts_every_long_value():
    long_path = "/data/" + "d" * 500 + "/x.tif"
    message = clip_message(f"cannot read {long_path}: no such file; product '{'p' * 300}' is not indexed.")
    words = message.split()
    assert max(len(w) for w in words) < 230
    assert f"{long_path[:200]}…({len(long_path) + 1 - 200} more characters)" in message  # the ':' is part of the run
    assert message.startswith("cannot read /data/ddd") and "no such file; product 'ppp" in message
    assert clip_message("short message stays as it is") == "short message stays as it is"
    assert len(clip_message(" ".join(["word"] * 2000))) == 2000 + len("…(7999 more characters)")
    assert shorten("abc", 2) == "ab…(1 more characters)"
