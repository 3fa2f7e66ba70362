"""RFC 7030 section 4.5 CSR attributes: a DER SEQUENCE of OIDs and attributes (CsrAttrs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_modules import rfc7030

from labctl.errors import PKIError


@dataclass(frozen=True, slots=True)
class CsrAttribute:
    """An attribute with OID values, e.g. id-ecPublicKey with {secp384r1} (RFC 7030 section 4.5.2)."""

    oid: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CsrAttrs:
    oids: tuple[str, ...] = ()
    attributes: tuple[CsrAttribute, ...] = ()


def encode_csrattrs(attrs: CsrAttrs) -> bytes:
    """DER of CsrAttrs; an empty SEQUENCE when the hierarchy asks for nothing."""
    seq = rfc7030.CsrAttrs()
    seq.clear()  # pyasn1: an untouched SEQUENCE OF has no value; clear() makes it a valid empty one
    index = 0
    for oid in attrs.oids:
        item = rfc7030.AttrOrOID()
        item["oid"] = univ.ObjectIdentifier(oid)
        seq[index] = item
        index += 1
    for attribute in attrs.attributes:
        item = rfc7030.AttrOrOID()
        item["attribute"]["attrType"] = univ.ObjectIdentifier(attribute.oid)
        for position, value in enumerate(attribute.values):
            item["attribute"]["attrValues"][position] = encoder.encode(univ.ObjectIdentifier(value))
        seq[index] = item
        index += 1
    return bytes(encoder.encode(seq))


def decode_csrattrs(der: bytes) -> CsrAttrs:
    """Parse CsrAttrs DER; attribute values that are OIDs are returned as dotted strings."""
    try:
        seq, rest = decoder.decode(der, asn1Spec=rfc7030.CsrAttrs())
    except PyAsn1Error as exc:
        raise PKIError(f"not a CsrAttrs SEQUENCE: {exc}") from exc
    if rest:
        raise PKIError(f"{len(rest)} bytes after the CsrAttrs SEQUENCE")
    oids: list[str] = []
    attributes: list[CsrAttribute] = []
    for item in seq:
        if item.getName() == "oid":
            oids.append(str(item["oid"]))
        else:
            attribute = item["attribute"]
            attributes.append(CsrAttribute(str(attribute["attrType"]), _oid_values(attribute["attrValues"])))
    return CsrAttrs(tuple(oids), tuple(attributes))


def _oid_values(values: Sequence[object]) -> tuple[str, ...]:
    decoded: list[str] = []
    for value in values:
        try:
            oid, _ = decoder.decode(bytes(value), asn1Spec=univ.ObjectIdentifier())  # type: ignore[call-overload]
        except PyAsn1Error:
            continue  # not an OID value: keep what we understand, as RFC 7030 lets clients ignore the rest
        decoded.append(str(oid))
    return tuple(decoded)
