"""The command line's own error type."""

from core.engine.errors import InputError


class CliError(InputError):
    """A problem with the user's input, reported as one line and exit status 2."""
