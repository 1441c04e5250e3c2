"""The exception hierarchy of antares.

Every error antares raises on purpose derives from :class:`AntaresError`. The CLI
turns one into a single line on stderr and an exit code (``exit_code``): 1 for a
runtime failure, 2 for a usage error. Built-in mix-ins let callers of the Python
API catch them the usual way (``except ValueError``), as rasterio does.

A message echoes what it refuses; :func:`clip_message` cuts every value in it to
:data:`SHOWN` characters, so that a huge argument never floods the terminal.
"""

import re

SHOWN = 200  # characters of one value shown in a message


def shorten(text, limit: int = SHOWN) -> str:
    """``text`` cut to ``limit`` characters, with the number of characters left out.

    Examples
    --------
    >>> shorten("a" * 250, 10)
    'aaaaaaaaaa…(240 more characters)'
    """
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}…({len(text) - limit} more characters)"


def clip_message(message, limit: int = SHOWN) -> str:
    """``message`` with every run of more than ``limit`` non-blank characters (a huge value echoed back:
    a name, a path, a list without spaces) cut to ``limit`` by :func:`shorten`, and the whole
    message to ``10 * limit`` characters.

    Examples
    --------
    >>> clip_message("product '" + "x" * 30 + "' is not indexed.", 20)
    "product 'xxxxxxxxxxxxxxxxxxx…(12 more characters) is not indexed."
    """
    cut = re.sub(r"\S{%d,}" % (limit + 1), lambda m: shorten(m.group(), limit), str(message))
    return shorten(cut, 10 * limit)


class AntaresError(Exception):
    """Root of all antares errors. The message is one line for the user."""

    exit_code = 1


class UsageError(AntaresError):
    """The command line or an API call asked for something invalid (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file or setting is missing or malformed."""


class InvalidInputError(AntaresError, ValueError):
    """An input (file, raster, vector, parameter value) is unusable."""


class NotFoundError(AntaresError, LookupError):
    """A named object (region, product, run, ...) does not exist."""


class UntrustedModelError(AntaresError):
    """A stored model would run code when loaded (a pickle) or holds a type antares does not load."""


class AlreadyExistsError(AntaresError):
    """A named object exists already and ``--overwrite`` was not given."""


class DatabaseError(AntaresError):
    """The database cannot be reached, started or migrated."""


class ConnectionLostError(DatabaseError):
    """The database went away while a command ran (a restart, the network): re-running resumes."""


class SchemaVersionError(DatabaseError):
    """The database schema is newer than (or unknown to) this version of antares."""


class WriteError(AntaresError):
    """A file could not be written completely (a full disk, a quota, an I/O error); nothing of it was kept."""
class RunningError(AntaresError):
    """Another process is running the same stage under the same name (its run is named in the message)."""


class Interrupted(KeyboardInterrupt):
    """The process received SIGINT or SIGTERM; the exit status is 128 + the signal number (130, 143).

    A subclass of :class:`KeyboardInterrupt`, so that the clean-up written for Ctrl-C also
    runs on ``kill``.
    """

    def __init__(self, signum: int):
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum
