"""Keying: SDES a=crypto (RFC 4568), DTLS-SRTP key split (RFC 5764), profiles, KDF, CLI."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest

from rtpstack.cli import main as rtpstack_main
from rtpstack.errors import SdpParseError
from rtpstack.srtp import (
    CryptoAttribute,
    SdesParseError,
    SrtpKeyingMaterial,
    SrtpKeyLengthError,
    SrtpProfile,
    export_length,
    format_crypto_attribute,
    keying_from_dtls_export,
    parse_crypto_attribute,
    srtp_kdf,
)

KEY30 = bytes(range(30))
B64_30 = base64.b64encode(KEY30).decode()

# -- SDES -----------------------------------------------------------------------------------


def test_parse_rfc4568_example_with_lifetime_and_mki() -> None:
    # RFC 4568 section 4 example line
    line = (
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
        "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4"
    )
    attr = parse_crypto_attribute(line)
    assert attr.tag == 1
    assert attr.profile is SrtpProfile.AES_CM_128_HMAC_SHA1_80
    kp = attr.key_params[0]
    assert kp.lifetime == 1 << 20
    assert (kp.mki, kp.mki_length) == (1, 4)
    raw = base64.b64decode("PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR")
    assert attr.keys.master_key == raw[:16]
    assert attr.keys.master_salt == raw[16:]
    assert str(attr) == line  # round trip, byte for byte


@pytest.mark.parametrize("profile", list(SrtpProfile), ids=[p.name for p in SrtpProfile])
def test_format_then_parse_round_trips_every_profile(profile: SrtpProfile) -> None:
    keys = SrtpKeyingMaterial.generate(profile)
    line = format_crypto_attribute(7, keys, lifetime=1 << 31, session_params=("KDR=0",))
    attr = parse_crypto_attribute(line)
    assert attr == CryptoAttribute(7, profile, attr.key_params, ("KDR=0",))
    assert attr.keys == keys
    assert attr.key_params[0].lifetime == 1 << 31
    assert line.startswith(f"a=crypto:7 {profile.value} inline:")
    assert "|2^31 KDR=0" in line


def test_parse_accepts_bare_value_and_multiple_keys() -> None:
    k1 = base64.b64encode(bytes(44)).decode()
    k2 = base64.b64encode(bytes(range(44))).decode()
    value = f"2 AEAD_AES_256_GCM inline:{k1}|1000;inline:{k2}|2:1"
    attr = parse_crypto_attribute(value)
    assert attr.profile is SrtpProfile.AEAD_AES_256_GCM
    assert len(attr.key_params) == 2
    assert attr.key_params[0].lifetime == 1000
    assert attr.key_params[1].keys.master_key == bytes(range(32))
    assert (attr.key_params[1].mki, attr.key_params[1].mki_length) == (2, 1)
    assert attr.value == value


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80",
            "a=crypto: expected '<tag> <crypto-suite> <key-params>', got 2 field(s)",
        ),
        (
            f"a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:{B64_30}",
            "a=crypto: tag must be 1 to 9 digits, got 'x'",
        ),
        (
            f"a=crypto:1 F8_128_HMAC_SHA1_80 inline:{B64_30}",
            "a=crypto: unsupported crypto-suite 'F8_128_HMAC_SHA1_80'",
        ),
        (f"a=crypto:1 AES-CM inline:{B64_30}", "a=crypto: bad crypto-suite 'AES-CM'"),
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:https://x",
            "a=crypto: unsupported key method 'uri' (only inline)",
        ),
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline",
            "a=crypto: key parameter without a method: 'inline'",
        ),
        ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:***", "a=crypto: key is not base64: '***'"),
        (
            f"a=crypto:1 AEAD_AES_128_GCM inline:{B64_30}",
            "a=crypto: AEAD_AES_128_GCM needs 28 bytes of key||salt, got 30",
        ),
        (
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^49",
            "a=crypto: lifetime 2^49 exceeds 2^48",
        ),
        (
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|0",
            "a=crypto: lifetime must not be 0",
        ),
        (
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|1:200",
            "a=crypto: MKI length must be 1..128, got 200",
        ),
        (
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|256:1",
            "a=crypto: MKI 256 does not fit in 1 bytes",
        ),
        (
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|1:4|2^20",
            "a=crypto: bad lifetime or MKI field '2^20'",
        ),
        (
            f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|a|b|c",
            "a=crypto: too many '|' fields in key parameter 'inline:" + B64_30 + "|a|b|c'",
        ),
    ],
)
def test_parse_errors_have_exact_messages(line: str, message: str) -> None:
    with pytest.raises(SdesParseError) as info:
        parse_crypto_attribute(line)
    assert str(info.value) == message
    assert isinstance(info.value, SdpParseError)


def test_sdes_keys_drive_a_session() -> None:
    from rtpstack.srtp import SrtpSession

    offer = parse_crypto_attribute(format_crypto_attribute(1, SrtpKeyingMaterial.generate()))
    tx, rx = SrtpSession(offer.keys), SrtpSession(offer.keys, engine="python")
    packet = bytes.fromhex("80600001000000010000abcd") + b"x" * 10
    assert rx.unprotect(tx.protect(packet)) == packet


# -- DTLS-SRTP ------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(SrtpProfile), ids=[p.name for p in SrtpProfile])
def test_dtls_export_split_follows_rfc5764(profile: SrtpProfile) -> None:
    k, s = profile.key_length, profile.salt_length
    material = bytes(range(export_length(profile)))
    assert len(material) == 2 * (k + s)
    client = keying_from_dtls_export(material, profile, is_client=True)
    server = keying_from_dtls_export(material, profile, is_client=False)
    # client_write_key | server_write_key | client_write_salt | server_write_salt
    assert client.outbound.master_key == material[:k]
    assert client.inbound.master_key == material[k : 2 * k]
    assert client.outbound.master_salt == material[2 * k : 2 * k + s]
    assert client.inbound.master_salt == material[2 * k + s :]
    assert (server.outbound, server.inbound) == (client.inbound, client.outbound)
    # the two ends talk to each other
    a, b = client.session(), server.session(engine="python")
    packet = bytes.fromhex("80600001000000010000abcd") + b"media"
    assert b.unprotect(a.protect(packet)) == packet
    assert a.unprotect(b.protect(packet)) == packet


def test_dtls_export_of_wrong_length() -> None:
    with pytest.raises(SrtpKeyLengthError) as info:
        keying_from_dtls_export(bytes(59), SrtpProfile.AES_CM_128_HMAC_SHA1_80, is_client=True)
    assert str(info.value) == (
        "AES_CM_128_HMAC_SHA1_80 needs 60 bytes of DTLS-SRTP keying material, got 59"
    )


def test_dtls_with_a_real_openssl_exporter() -> None:
    """Export from a real DTLS handshake in memory (pyOpenSSL) and split it on both ends."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from OpenSSL import SSL

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "srtp-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )

    def ctx(server: bool) -> SSL.Context:
        c = SSL.Context(SSL.DTLS_METHOD)
        c.set_tlsext_use_srtp(b"SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80")
        if server:
            c.use_certificate(cert)
            c.use_privatekey(key)
        return c

    client = SSL.Connection(ctx(False), None)
    server = SSL.Connection(ctx(True), None)
    client.set_connect_state()
    server.set_accept_state()
    for _ in range(20):  # bounded handshake pump through memory BIOs
        for a, b in ((client, server), (server, client)):
            with contextlib.suppress(SSL.WantReadError):
                a.do_handshake()
            while True:
                try:
                    data = a.bio_read(65536)
                except SSL.WantReadError:
                    break
                b.bio_write(data)
        try:
            client.do_handshake()
            server.do_handshake()
            break
        except SSL.WantReadError:
            continue
    selected = client.get_selected_srtp_profile().decode()
    profile = SrtpProfile.from_name(selected)
    assert profile is SrtpProfile.AEAD_AES_128_GCM
    n = export_length(profile)
    mc = client.export_keying_material(b"EXTRACTOR-dtls_srtp", n)
    ms = server.export_keying_material(b"EXTRACTOR-dtls_srtp", n)
    assert mc == ms
    c = keying_from_dtls_export(mc, profile, is_client=True).session()
    s = keying_from_dtls_export(ms, profile, is_client=False).session()
    packet = bytes.fromhex("80600001000000010000abcd") + b"dtls"
    assert s.unprotect(c.protect(packet)) == packet


# -- profiles and KDF -----------------------------------------------------------------------


def test_profile_table() -> None:
    p = SrtpProfile.AES_CM_128_HMAC_SHA1_32
    assert (p.key_length, p.salt_length, p.rtp_tag_length, p.rtcp_tag_length) == (16, 14, 4, 10)
    g = SrtpProfile.AEAD_AES_256_GCM
    assert (g.key_length, g.salt_length, g.rtp_tag_length, g.is_aead) == (32, 12, 16, True)
    assert SrtpProfile.from_name("srtp_aes128_cm_sha1_80") is SrtpProfile.AES_CM_128_HMAC_SHA1_80
    assert SrtpProfile.from_dtls_id(7) is SrtpProfile.AEAD_AES_128_GCM
    with pytest.raises(ValueError, match=r"^unknown SRTP profile: 'nope'$"):
        SrtpProfile.from_name("nope")


def test_keying_material_repr_hides_keys() -> None:
    keys = SrtpKeyingMaterial(SrtpProfile.AEAD_AES_128_GCM, b"K" * 16, b"S" * 12)
    assert "KKKK" not in repr(keys) and "SSSS" not in repr(keys)


def test_kdf_rate_zero_ignores_the_index_and_nonzero_rate_uses_it() -> None:
    mk, ms = bytes(range(16)), bytes(range(14))
    base = srtp_kdf(mk, ms, 0, 16)
    assert srtp_kdf(mk, ms, 0, 16, index=123456) == base
    assert srtp_kdf(mk, ms, 0, 16, index=65535, kdr=1 << 16) == base  # r = 0
    changed = srtp_kdf(mk, ms, 0, 16, index=65536, kdr=1 << 16)  # r = 1
    assert changed != base
    # r enters the low 48 bits of x: equivalent to flipping the salt's last bit
    assert changed == srtp_kdf(mk, ms[:-1] + bytes([ms[-1] ^ 1]), 0, 16)
    with pytest.raises(ValueError, match="power of two"):
        srtp_kdf(mk, ms, 0, 16, kdr=3)


# -- CLI ------------------------------------------------------------------------------------


def test_cli_keygen_line_parses_back(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        rtpstack_main(["srtp", "keygen", "--profile", "AES_CM_128_HMAC_SHA1_80", "--tag", "3"]) == 0
    )
    line = capsys.readouterr().out.strip()
    attr = parse_crypto_attribute(line)
    assert attr.tag == 3 and attr.profile is SrtpProfile.AES_CM_128_HMAC_SHA1_80


def test_cli_keygen_inline_is_ffmpeg_srtp_out_params(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        rtpstack_main(
            ["srtp", "keygen", "--profile", "AES_CM_128_HMAC_SHA1_80", "--format", "inline"]
        )
        == 0
    )
    assert len(base64.b64decode(capsys.readouterr().out.strip())) == 30


def test_cli_parse_json(capsys: pytest.CaptureFixture[str]) -> None:
    line = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{B64_30}|2^20"
    assert rtpstack_main(["srtp", "parse", line, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["profile"] == "AES_CM_128_HMAC_SHA1_80"
    assert doc["key_params"][0]["master_key"] == KEY30[:16].hex()
    assert doc["key_params"][0]["master_salt"] == KEY30[16:].hex()
    assert doc["key_params"][0]["lifetime"] == 1 << 20


def test_cli_parse_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert rtpstack_main(["srtp", "parse", "a=crypto:1 NOPE inline:AAAA"]) == 2
    assert (
        capsys.readouterr().err
        == "rtpstack srtp: error: a=crypto: unsupported crypto-suite 'NOPE'\n"
    )
