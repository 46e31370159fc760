"""`python -m codefusion.trajectory ...`: the command lives in codefusion/generation/trajectory.py (this name is kept for it)."""
import sys

from codefusion.generation.trajectory import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
