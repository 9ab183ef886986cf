"""`python -m edgetui` runs the same entry point as the `edgetui` console script."""

from edgetui.cli import main

raise SystemExit(main())
