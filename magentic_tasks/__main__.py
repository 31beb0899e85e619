"""`python -m magentic_tasks run "prompt"`: see magentic_tasks/cli.py."""

from magentic_tasks.cli import main

raise SystemExit(main())
