from cio_desktop.app import main

raise SystemExit(main())
