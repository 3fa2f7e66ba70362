"""The Intermediate CA: Dogtag-compatible REST API over HTTPS, SQLite persistence."""
