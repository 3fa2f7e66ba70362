"""PKI primitives shared by labctl and its services.

keys (RSA-4096, P-384, ML-DSA-87), profiles (data), issue (CSRs, certificates, CRLs, chains),
signatures (issued-by, CSR and CRL signature checks), pkcs7 (certs-only), csrattrs (RFC 7030 section 4.5),
distribution (a CA's CRL distribution point and AIA URLs, and their extensions).
"""
