"""`python -m codefusion.compare ...`: the command lives in codefusion/evaluation/compare.py (this name is kept for it)."""
import sys

from codefusion.evaluation.compare import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
