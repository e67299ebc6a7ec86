"""Access-log ingestion: pure parsers, and the checkpointed job that feeds usage rollups."""
