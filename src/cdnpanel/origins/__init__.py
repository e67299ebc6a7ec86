"""Adapters to real media servers, each behind the ``OriginAdapter`` Protocol."""
