"""The Intermediate CA: Dogtag-compatible REST API over HTTPS (app), its plain-HTTP port for the CRL, CA chain and
OCSP (public), SQLite persistence (store)."""
