"""`python -m orchestrator` runs the trainctl CLI."""

from orchestrator.cli.main import main

if __name__ == "__main__":
    main()
