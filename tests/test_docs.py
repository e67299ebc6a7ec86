"""Registries document themselves: every command has a page and an SDK method."""

from __future__ import annotations

from pathlib import Path

from cdnpanel import client
from cdnpanel.client import Client
from cdnpanel.wiring import build_registry

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_command_has_a_docs_page_with_its_summary() -> None:
    for command in build_registry():
        page = DOCS / "commands" / f"{command.name}.md"
        assert page.exists(), f"docs/commands/{command.name}.md is missing"
        text = page.read_text()
        assert command.summary in text
        for param in command.parameter_names:
            assert f"`{param}`" in text, f"{command.name}: parameter {param} undocumented"


def test_every_command_has_an_sdk_method() -> None:
    sdk = Client("http://x/", 1, "k", "s")
    for command in build_registry():
        family, name = command.name.split(".")
        assert callable(getattr(getattr(sdk, family), name)), command.name
    sdk.close()


def test_sdk_public_surface_is_declared() -> None:
    public = {name for name in dir(client) if not name.startswith("_")}
    assert set(client.__all__) == public - {"annotations"}
