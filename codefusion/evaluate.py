"""`python -m codefusion.evaluate ...`: the command lives in codefusion/evaluation/__main__.py (this name is kept for it)."""
import sys

from codefusion.evaluation.__main__ import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
