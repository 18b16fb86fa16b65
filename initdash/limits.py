"""The bounds every part of initdash agrees on, written once."""

MAX_ID = 2**63 - 1  # what SQLite's INTEGER holds: session ids, sweep ids, seeds
MAX_REPEATS = 100_000  # seeds per initializer in a sweep: far above what memory allows for any model
MAX_DASHBOARD_REPEATS = 200  # what + reaches in the dashboard: a key press adds one, the memory check is at start
MAX_SWEEPS = 1_000_000  # headless --sweeps
MAX_EPOCHS = 1_000_000
MAX_BATCH = 2**31 - 1  # torch indexes a batch with 32-bit sizes in places
MAX_SPLIT_SEED = 2**32 - 1  # numpy's RandomState
