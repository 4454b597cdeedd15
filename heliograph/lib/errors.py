"""The one error type for bad input: every entry point turns it into a clear message."""


class InputError(ValueError):
    """Raised by service functions before anything is written."""
