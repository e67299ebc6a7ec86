"""``python -m cdnpanel`` runs the CLI."""

from cdnpanel.cli import main

main()
