"""Tables, migrations and repositories; SQLite and PostgreSQL behind one interface."""
