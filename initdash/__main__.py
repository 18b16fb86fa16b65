"""python -m initdash"""

from initdash.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
