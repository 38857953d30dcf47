from treemtl.cli import main

raise SystemExit(main())
