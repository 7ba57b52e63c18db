"""`python -m raftsim` runs the same command as `raftsim`."""

from raftsim.cli import main

if __name__ == "__main__":
    main()
