"""The EST (RFC 7030) Registration Authority: a thin proxy in front of its hierarchy's CA."""
