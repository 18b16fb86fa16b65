"""The bounds every part of initdash agrees on, written once."""

MAX_ID = 2**63 - 1  # what SQLite's INTEGER holds: session ids, sweep ids, seeds
MAX_REPEATS = 100_000  # seeds per initializer in a sweep: far above what memory allows for any model
MAX_DASHBOARD_REPEATS = 200  # what + reaches in the dashboard: a key press adds one, the memory check is at start
MAX_SWEEPS = 1_000_000  # headless --sweeps
MAX_EPOCHS = 1_000_000
MAX_BATCH = 2**31 - 1  # torch indexes a batch with 32-bit sizes in places
MAX_SPLIT_SEED = 2**32 - 1  # numpy's RandomState
MAX_CONFIG_BYTES = 1 << 20  # a --config TOML file: settings fit in far less
MAX_EXPORT_BYTES = 256 << 20  # a file to import: ~1,000,000 epochs of four metrics, with room to spare
MAX_CSV_LINE = 16 << 20  # characters in one line of a data CSV (a million features of 16 characters)
MAX_TEXT = 4096  # characters in one setting's text (a path, a label, an address)
MAX_INITIALIZERS = 10_000  # initializers in one config
MAX_LAYERS = 100_000  # layers that per-layer statistics describe in one run
MAX_AXIS = 1_000  # values on one axis of a grid (learning rates, widths)
FLOAT32_MAX = 3.4028234663852886e38  # a learning rate, like every weight, is a float32
# Initializer parameters beyond this draw weights whose products overflow float32 at once: refused up front.
PARAM_LIMIT = 1e30
