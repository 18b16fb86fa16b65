"""The one exception type that means 'the user asked for something we cannot do'."""


class UserError(Exception):
    """A bad input: shown as one line on stderr, exit code 2, never a traceback."""
