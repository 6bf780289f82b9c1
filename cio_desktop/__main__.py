"""``python -m cio_desktop``: the window (app.main), or a headless command when one is given."""

from cio_desktop.cli import main

raise SystemExit(main())
