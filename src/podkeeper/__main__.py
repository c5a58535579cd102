"""`python -m podkeeper`: the same command as the `podkeeper` entry point."""

from podkeeper.cli import main

if __name__ == "__main__":
    main(prog_name="podkeeper")
