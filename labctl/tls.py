"""What TLS this host and each hierarchy can do: facts the CLI, the clients, the specs and the local
runner all need, and none of them owns."""

from __future__ import annotations

import ssl

from labctl.pki.keys import KeyAlgorithm
from labctl.topology import Hierarchy


def host_supports_tls(algorithm: KeyAlgorithm) -> bool:
    """ML-DSA in TLS needs OpenSSL 3.5 on both ends; the host's Python may have less (3.0 here)."""
    return algorithm is not KeyAlgorithm.ML_DSA_87 or ssl.OPENSSL_VERSION_INFO >= (3, 5)


def needs_compat_tls(hierarchy: Hierarchy) -> bool:
    """Serve an RSA-keyed certificate too, for clients that cannot do the hierarchy's TLS (ML-DSA before OpenSSL 3.5)."""
    return hierarchy.algorithm is KeyAlgorithm.ML_DSA_87
