"""The exception hierarchy of antares.

Every error antares raises on purpose derives from :class:`AntaresError`. The CLI
turns one into a single line on stderr and an exit code (``exit_code``): 1 for a
runtime failure, 2 for a usage error. Built-in mix-ins let callers of the Python
API catch them the usual way (``except ValueError``), as rasterio does.
"""


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
