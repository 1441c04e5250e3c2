"""The wheel installs and works outside this checkout: built with ``pip wheel``, installed into a fresh venv.

To stay fast and offline the fresh venv has no pip and no dependencies of its own: a ``.pth`` file
lets it see the site-packages of the interpreter running the tests (a path line in a ``.pth`` adds
the folder to ``sys.path`` without running that folder's own ``.pth`` files, so this checkout's
editable install of antares stays invisible), and the wheel is installed with ``--no-deps``.
"""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import antares

CHECKOUT = Path(antares.__file__).resolve().parents[1]


def run(args, cwd, env=None, timeout=300):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_wheel_outside_the_checkout(fresh_settings, tmp_path):
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ and *.egg-info in it
    for name in ("antares", "config", "recipes"):
        shutil.copytree(CHECKOUT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "_data"))
    for name in ("setup.py", "pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist",
         f"{source}/"], cwd=tmp_path)
    wheels = list((tmp_path / "dist").glob("antares-*.whl"))
    assert len(wheels) == 1

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).strip())
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --ignore-installed: pip sees the outer venv's (editable) antares through outer.pth and would skip the
    # wheel as "already installed"; this installs it into the fresh venv and leaves the outer one untouched
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", wheels[0]], cwd=tmp_path)
    assert (site / "antares" / "_data" / "recipes").is_dir() and (venv / "bin" / "antares").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "ANTARES_HOME": str(tmp_path / "home"),
           "ANTARES_DB_URL": fresh_settings.db_url}
    assert run([venv / "bin" / "antares", "--version"], elsewhere, env).strip() == f"antares, version {antares.__version__}"
    where = run([python, "-c", "import antares, antares.resources as r, antares.recipes.catalog as c; "
                               "print(antares.__file__); print(r.config_dir()); print(c.recipes_dir())"], elsewhere, env)
    package, config, recipes = (Path(line) for line in where.splitlines())
    assert package.is_relative_to(venv) and config.is_relative_to(venv) and recipes.is_relative_to(venv)
    assert sorted(p.name for p in (config / "products").glob("*.yaml")) == \
        sorted(p.name for p in (CHECKOUT / "config" / "products").glob("*.yaml"))

    init = run([venv / "bin" / "antares", "init"], elsewhere, env)
    for product in (CHECKOUT / "config" / "products").glob("*.yaml"):
        assert f"product {product.stem}: added" in init
    listed = run([venv / "bin" / "antares", "list", "recipes"], elsewhere, env)
    for recipe in (CHECKOUT / "recipes").glob("*.yaml"):
        assert recipe.stem in listed
