from gradesync.cli import main

raise SystemExit(main())
