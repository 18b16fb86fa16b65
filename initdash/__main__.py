"""python -m initdash"""

from initdash.cli import run

if __name__ == "__main__":
    run()
