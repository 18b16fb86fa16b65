"""Named exit codes."""

OK = 0
FAILED = 1  # no result: every run failed or diverged, results could not be delivered, or an internal error
USER_ERROR = 2  # bad input, said in one line
INTERRUPTED = 130  # Ctrl-C (SIGINT); a SIGTERM gives 143 (128 + 15)
