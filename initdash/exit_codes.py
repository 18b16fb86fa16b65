"""Named exit codes."""

OK = 0
USER_ERROR = 2
INTERRUPTED = 130
