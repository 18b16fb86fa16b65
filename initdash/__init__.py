"""initdash: watch how weight initialization changes training, live, in the terminal."""

__version__ = "0.2.0"
