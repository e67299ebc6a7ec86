"""Domain logic: plain classes that get their store and clock through ``__init__``."""
