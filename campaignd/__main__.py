"""`python -m campaignd` runs the CLI."""

from campaignd.cli.main import main

main()
