"""ASGI app assembly, the command endpoint, and (later) the hooks media servers call."""
