"""``python -m cdnpanel`` runs the CLI."""

from cdnpanel.cli import run

run()
