"""Named exit codes."""

OK = 0
INTERNAL_ERROR = 1
USER_ERROR = 2
INTERRUPTED = 130
