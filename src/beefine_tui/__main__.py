from beefine_tui.cli import main

raise SystemExit(main())
