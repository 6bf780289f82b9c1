"""Entry point of the frozen application: the same ``cio-desktop`` command (window, or a
headless command when one is given)."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from cio_desktop.services.parse_worker import WORKER_FLAG

    if sys.argv[1:] == [WORKER_FLAG]:  # a large import's statement parser (parse_worker)
        from cio_desktop.services.parse_worker import serve

        sys.exit(serve())
    from cio_desktop.cli import main

    sys.exit(main())
