from vcmon.cli import main

raise SystemExit(main())
