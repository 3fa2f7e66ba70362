"""Keys per algorithm, key strength rules, and certificate profiles per key family."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from labctl.errors import PKIError
from labctl.pki.keys import (
    KeyAlgorithm,
    KeyKind,
    check_key_strength,
    describe_key,
    generate_private_key,
    key_kind,
    load_private_key_pem,
    matches_algorithm,
    private_key_pem,
    read_private_key,
    signature_hash,
    write_private_key,
)
from labctl.pki.profiles import PROFILES, SERVER_PROFILE_BY_KIND, Profile, get_profile
from tests.conftest import ALGORITHM_IDS, ALGORITHMS
from tests.helpers import key_for, small_ec_key, small_rsa_key

IDS = ALGORITHM_IDS
SERVER_PROFILES = ["caServerCert", "caECServerCert", "caMLDSAServerCert"]


# --- keys --------------------------------------------------------------------------------------


def test_generate_private_key_rsa_is_4096_bits_with_f4() -> None:
    key = key_for(KeyAlgorithm.RSA_4096)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 4096
    assert key.public_key().public_numbers().e == 65537


def test_generate_private_key_ec_is_p384() -> None:
    key = generate_private_key(KeyAlgorithm.EC_P384)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, ec.SECP384R1)


def test_generate_private_key_mldsa_is_mldsa87() -> None:
    assert isinstance(generate_private_key(KeyAlgorithm.ML_DSA_87), mldsa.MLDSA87PrivateKey)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_generated_key_matches_its_algorithm(algorithm: KeyAlgorithm) -> None:
    assert matches_algorithm(key_for(algorithm).public_key(), algorithm)


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_generated_key_matches_no_other_algorithm(algorithm: KeyAlgorithm) -> None:
    public_key = key_for(algorithm).public_key()
    for other in ALGORITHMS:
        if other is not algorithm:
            assert not matches_algorithm(public_key, other)


def test_rsa_2048_does_not_match_rsa_4096() -> None:
    assert not matches_algorithm(small_rsa_key(2048).public_key(), KeyAlgorithm.RSA_4096)


def test_p256_does_not_match_p384() -> None:
    assert not matches_algorithm(small_ec_key(ec.SECP256R1()).public_key(), KeyAlgorithm.EC_P384)


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [
        (KeyAlgorithm.RSA_4096, KeyKind.RSA),
        (KeyAlgorithm.EC_P384, KeyKind.EC),
        (KeyAlgorithm.ML_DSA_87, KeyKind.ML_DSA),
    ],
    ids=IDS,
)
def test_key_kind_of_generated_key_is_algorithm_kind(algorithm: KeyAlgorithm, kind: KeyKind) -> None:
    assert algorithm.kind is kind
    assert key_kind(key_for(algorithm).public_key()) is kind


def test_key_kind_refuses_ed25519_naming_it() -> None:
    with pytest.raises(PKIError, match="unsupported key type Ed25519"):
        key_kind(ed25519.Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        (KeyAlgorithm.RSA_4096, "RSA-4096"),
        (KeyAlgorithm.EC_P384, "EC secp384r1"),
        (KeyAlgorithm.ML_DSA_87, "ML-DSA-87"),
    ],
    ids=IDS,
)
def test_describe_key_names_family_and_size(algorithm: KeyAlgorithm, expected: str) -> None:
    assert describe_key(key_for(algorithm).public_key()) == expected


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_signature_hash_is_sha384_except_mldsa(algorithm: KeyAlgorithm) -> None:
    digest = signature_hash(key_for(algorithm))
    if algorithm is KeyAlgorithm.ML_DSA_87:
        assert digest is None
    else:
        assert digest is not None
        assert digest.name == "sha384"


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_check_key_strength_accepts_lab_keys(algorithm: KeyAlgorithm) -> None:
    check_key_strength(key_for(algorithm).public_key())


def test_check_key_strength_accepts_rsa_2048() -> None:
    check_key_strength(small_rsa_key(2048).public_key())


def test_check_key_strength_rejects_rsa_1024() -> None:
    with pytest.raises(PKIError, match=r"RSA-1024 is too weak \(need at least 2048 bits\)"):
        check_key_strength(small_rsa_key(1024).public_key())


def test_check_key_strength_rejects_exponent_3() -> None:
    n = small_rsa_key(2048).public_key().public_numbers().n
    weak = rsa.RSAPublicNumbers(3, n).public_key()
    with pytest.raises(PKIError, match="RSA public exponent 3 is not allowed"):
        check_key_strength(weak)


def test_check_key_strength_rejects_p192() -> None:
    try:
        key = ec.generate_private_key(ec.SECP192R1())
    except UnsupportedAlgorithm:
        pytest.skip("this cryptography build cannot make P-192 keys")
    with pytest.raises(PKIError, match="EC curve secp192r1 is too weak"):
        check_key_strength(key.public_key())


def test_check_key_strength_rejects_unsupported_key_type() -> None:
    with pytest.raises(PKIError, match="unsupported key type"):
        check_key_strength(ed25519.Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_private_key_pem_round_trips(algorithm: KeyAlgorithm) -> None:
    key = key_for(algorithm)
    assert private_key_pem(load_private_key_pem(private_key_pem(key))) == private_key_pem(key)


def test_load_private_key_pem_rejects_garbage() -> None:
    with pytest.raises(PKIError, match="cannot read private key"):
        load_private_key_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_load_private_key_pem_rejects_unsupported_type() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(PKIError, match="unsupported private key type"):
        load_private_key_pem(pem)


def test_write_private_key_is_owner_only_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "key.pem"
    key = key_for(KeyAlgorithm.EC_P384)
    write_private_key(path, key)
    assert path.stat().st_mode & 0o777 == 0o600
    assert private_key_pem(read_private_key(path)) == private_key_pem(key)


def test_read_private_key_missing_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.pem"
    with pytest.raises(PKIError, match="cannot read private key") as info:
        read_private_key(path)
    assert str(path) in str(info.value)


# --- profiles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile_id", "algorithm", "bits"),
    [
        ("caServerCert", KeyAlgorithm.RSA_4096, {"digital_signature", "key_encipherment", "data_encipherment"}),
        ("caECServerCert", KeyAlgorithm.EC_P384, {"digital_signature", "key_agreement"}),
        ("caMLDSAServerCert", KeyAlgorithm.ML_DSA_87, {"digital_signature"}),
    ],
    ids=IDS,
)
def test_server_profile_key_usage_is_exactly_as_defined(
    profile_id: str, algorithm: KeyAlgorithm, bits: set[str]
) -> None:
    assert set(get_profile(profile_id).key_usage_for(key_for(algorithm).public_key())) == bits


def test_mldsa_server_profile_has_signature_bits_only() -> None:
    # RFC 9881: no keyEncipherment, dataEncipherment or keyAgreement for an ML-DSA key.
    profile = get_profile("caMLDSAServerCert")
    assert profile.key_usage == {KeyKind.ML_DSA: frozenset({"digital_signature"})}


@pytest.mark.parametrize("profile_id", SERVER_PROFILES, ids=IDS)
def test_server_profile_certifies_only_its_family(profile_id: str) -> None:
    assert len(get_profile(profile_id).allowed_kinds) == 1


@pytest.mark.parametrize("profile_id", SERVER_PROFILES, ids=IDS)
def test_server_profile_refuses_other_families_naming_the_profile(profile_id: str) -> None:
    profile = get_profile(profile_id)
    refused = [a for a in ALGORITHMS if a.kind not in profile.allowed_kinds]
    assert len(refused) == 2
    for algorithm in refused:
        public_key = key_for(algorithm).public_key()
        with pytest.raises(PKIError, match=rf"profile {profile_id} does not allow {describe_key(public_key)} keys"):
            profile.key_usage_for(public_key)


@pytest.mark.parametrize("kind", list(KeyKind), ids=IDS)
def test_server_profile_by_kind_allows_that_kind(kind: KeyKind) -> None:
    assert get_profile(SERVER_PROFILE_BY_KIND[kind]).allowed_kinds == {kind}


@pytest.mark.parametrize("profile_id", ["estServiceCert", "estRAAgentCert", "caAdminCert"])
@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=IDS)
def test_multi_family_profiles_allow_every_lab_algorithm(profile_id: str, algorithm: KeyAlgorithm) -> None:
    bits = get_profile(profile_id).key_usage_for(key_for(algorithm).public_key())
    assert "digital_signature" in bits
    assert "key_cert_sign" not in bits


@pytest.mark.parametrize(
    ("algorithm", "bits"),
    [
        (KeyAlgorithm.RSA_4096, {"digital_signature", "key_encipherment"}),
        (KeyAlgorithm.EC_P384, {"digital_signature", "key_agreement"}),
        (KeyAlgorithm.ML_DSA_87, {"digital_signature"}),
    ],
    ids=IDS,
)
def test_est_service_profile_key_usage_per_family(algorithm: KeyAlgorithm, bits: set[str]) -> None:
    assert set(get_profile("estServiceCert").key_usage_for(key_for(algorithm).public_key())) == bits


def test_profile_refuses_unsupported_key_type() -> None:
    with pytest.raises(PKIError, match="unsupported key type"):
        get_profile("estServiceCert").key_usage_for(ed25519.Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("profile_id", [*SERVER_PROFILES, "estServiceCert"])
def test_server_and_est_profiles_grant_server_and_client_auth(profile_id: str) -> None:
    assert set(get_profile(profile_id).extended_key_usage) == {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    }


@pytest.mark.parametrize("profile_id", ["estRAAgentCert", "caAdminCert"])
def test_agent_profiles_are_client_only_and_grant_agent(profile_id: str) -> None:
    profile = get_profile(profile_id)
    assert set(profile.extended_key_usage) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    assert profile.grants_agent
    assert not profile.copy_cn_to_san


def test_est_service_profile_lasts_90_days() -> None:
    assert get_profile("estServiceCert").validity_days == 90


def test_unknown_profile_id_lists_known_ones() -> None:
    with pytest.raises(PKIError, match=r"unknown profile 'caUserCert'") as info:
        get_profile("caUserCert")
    for known in PROFILES:
        assert known in str(info.value)


def test_profile_with_unknown_key_usage_bit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown key usage"):
        Profile("bad", "bad", {KeyKind.RSA: frozenset({"sign_everything"})}, (), 1)
