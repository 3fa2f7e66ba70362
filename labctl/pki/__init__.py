"""PKI primitives shared by labctl and its services: keys, profiles, issuance, PKCS#7, csrattrs."""
