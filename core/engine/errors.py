"""Errors a user can mend, told apart from bugs: the command line reports these as one
line and exit status 2, anything else as an unexpected error with its traceback logged."""

from __future__ import annotations


class InputError(ValueError):
    """Input a user can mend: an option out of range, a device this machine lacks, a
    folder or file that is not what it should be, nothing to learn from yet."""


class UnknownNameError(InputError, KeyError):
    """A name (backbone, method, layer, order) that is not one of the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
