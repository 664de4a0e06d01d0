"""``python -m desk --host H --port P``: the background desk's entry (see desk/cli.py)."""

from flows.cli import main

if __name__ == "__main__":
    import sys

    main(["desk", *sys.argv[1:]])
