"""The command line's own error type."""


class CliError(Exception):
    """A problem with the user's input, reported as one line and exit status 2."""
