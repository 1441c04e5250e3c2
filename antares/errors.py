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


class AlreadyExistsError(AntaresError):
    """A named object exists already and ``--overwrite`` was not given."""


class DatabaseError(AntaresError):
    """The database cannot be reached, started or migrated."""


class ConnectionLostError(DatabaseError):
    """The database went away while a command ran (a restart, the network): re-running resumes."""


class SchemaVersionError(DatabaseError):
    """The database schema is newer than (or unknown to) this version of antares."""


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
