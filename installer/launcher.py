"""Entry point of the frozen application: the same ``cio-desktop`` command (window, or a
headless command when one is given)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from cio_desktop.cli import main

    sys.exit(main())
