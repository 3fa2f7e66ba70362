"""labctl: a containerized PKI lab with RSA, ECC and ML-DSA hierarchies, each with an EST RA."""

__version__ = "0.1.0"
