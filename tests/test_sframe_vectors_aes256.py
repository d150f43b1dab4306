"""Optional extra, kept apart from RFC 9605 conformance: the post-RFC AES-256-CTR + HMAC-SHA512
suites 6-8 from the SFrame working group's main-branch vector files, on both backends."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from rtpstack.sframe import AuthenticationError, derive_key_salt
from rtpstack.sframe.suites import EXTRA_SUITES, SUITES, hkdf_extract, make_nonce
from tests.conftest import corpus_path
from tests.sframe_helpers import BACKENDS, backend_module


@pytest.fixture(params=BACKENDS)
def be(request: pytest.FixtureRequest) -> ModuleType:
    return backend_module(request.param)


def load(rel: str, key: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(corpus_path(rel).read_text())[key]
    assert sorted(c["cipher_suite"] for c in cases) == [6, 7, 8]
    return cases


def test_extra_suites_are_not_rfc_suites() -> None:
    assert set(SUITES) == {1, 2, 3, 4, 5}
    assert set(EXTRA_SUITES) == {6, 7, 8}
    assert [s.nt for s in EXTRA_SUITES.values()] == [10, 8, 4]


def test_aes_256_ctr_hmac_aead(be: ModuleType) -> None:
    for v in load("vectors/sframe-wg__main_test-vectors.json", "aes_256_ctr_hmac"):
        key = bytes.fromhex(v["key"])
        assert key[:32].hex() == v["enc_key"] and key[32:].hex() == v["auth_key"]
        aead = be.BareAead(v["cipher_suite"], key)
        nonce, aad = bytes.fromhex(v["nonce"]), bytes.fromhex(v["aad"])
        ct = bytes.fromhex(v["ct"])
        assert aead.seal(nonce, aad, bytes.fromhex(v["pt"])) == ct
        assert aead.open(nonce, aad, ct).hex() == v["pt"]
        with pytest.raises(AuthenticationError):
            aead.open(nonce, aad + b"x", ct)


def test_aes_256_ctr_hmac_sframe(be: ModuleType) -> None:
    for v in load("vectors/sframe-wg__main_test-vectors-aes256.json", "sframe_aes_256_ctr_hmac"):
        base = bytes.fromhex(v["base_key"])
        assert hkdf_extract("sha512", b"", base).hex() == v["sframe_secret"]
        key, salt = derive_key_salt(v["cipher_suite"], v["kid"], base)
        assert (key.hex(), salt.hex()) == (v["sframe_key"], v["sframe_salt"])
        assert make_nonce(salt, v["ctr"]).hex() == v["nonce"]
        k = be.SFrameKey(v["cipher_suite"], v["kid"], key, salt)
        md, pt = bytes.fromhex(v["metadata"]), bytes.fromhex(v["pt"])
        assert k.encrypt(v["ctr"], md, pt).hex() == v["ct"]
        assert k.decrypt(bytes.fromhex(v["ct"]), md) == (v["ctr"], pt)
