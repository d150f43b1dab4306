"""e2ee: the key schedule from the encryption secret, epochs, KID allocation, and the
mismatch/match detector (issue 5, "Keys from the encryption secret")."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from rtpstack.e2ee import (
    ENCRYPTION_SECRET_MATCH,
    ENCRYPTION_SECRET_MISMATCH,
    PBKDF2_ITERATIONS,
    FrameDecryptor,
    FrameEncryptor,
    InvalidSecretError,
    KidAllocator,
    SecretEvent,
    base_key_for_kid,
    derive_master_key,
    make_kid,
    normalize_secret,
    random_sender_index,
    split_kid,
)
from rtpstack.errors import SFrameError
from rtpstack.sframe import (
    AuthenticationError,
    MalformedHeaderError,
    ReplayError,
    decode_header,
    derive_key_salt,
)
from tests.sframe_helpers import backend_module

SESSION = "session-42"
S1 = "correct horse battery staple"
S2 = "tr0ub4dor&3 is a worse one"
WRONG = "not the secret at all"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "encryption secret must be 8 to 256 characters, got 0"),
        ("1234567", "encryption secret must be 8 to 256 characters, got 7"),
        ("x" * 257, "encryption secret must be 8 to 256 characters, got 257"),
        ("e\u0301" * 4, "encryption secret must be 8 to 256 characters, got 4"),  # NFC: 4
    ],
)
def test_secret_length_is_checked(secret: str, message: str) -> None:
    with pytest.raises(InvalidSecretError) as info:
        normalize_secret(secret)
    assert str(info.value) == message
    assert isinstance(info.value, SFrameError)
    with pytest.raises(InvalidSecretError):
        FrameEncryptor(secret, SESSION, 1)


def test_secret_bounds_accepted_and_not_a_string_refused() -> None:
    assert normalize_secret("12345678") == "12345678"
    assert normalize_secret("\u00e9" * 256) == "\u00e9" * 256
    with pytest.raises(InvalidSecretError, match="must be a string"):
        normalize_secret(b"12345678")  # type: ignore[arg-type]


def test_schedule_matches_independent_pbkdf2_and_hkdf() -> None:
    """Checked against cryptography's PBKDF2HMAC and HKDF, as WebCrypto would compute them."""
    master = derive_master_key(S1, SESSION)
    expected = PBKDF2HMAC(
        algorithm=hashes.SHA256(),
        length=32,
        salt=("rtpstack-e2ee-v1:" + SESSION).encode(),
        iterations=PBKDF2_ITERATIONS,
    ).derive(S1.encode())
    assert master == expected
    kid = make_kid(3, 1, 0)
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"rtpstack-e2ee-v1",
        info=b"rtpstack-e2ee-v1 kid " + kid.to_bytes(8, "big"),
    )
    assert base_key_for_kid(master, kid) == hkdf.derive(master)
    assert derive_master_key(S1, "other-session") != master  # the session id salts it
    assert derive_master_key(S2, SESSION) != master


def test_nfc_forms_of_a_secret_derive_the_same_keys() -> None:
    composed, decomposed = "caf\u00e9 au lait", "cafe\u0301 au lait"
    assert derive_master_key(composed, SESSION) == derive_master_key(decomposed, SESSION)


def test_kid_layout() -> None:
    assert make_kid(1, 0, 0) == 0x100
    assert make_kid(0x123, 5, 17) == 0x12351  # epoch wraps mod 16
    f = split_kid(0x12351)
    assert (f.sender_index, f.stream, f.epoch) == (0x123, 5, 1)
    with pytest.raises(ValueError):
        make_kid(1, 16, 0)
    with pytest.raises(ValueError):
        make_kid(-1, 0, 0)


def test_same_secret_decrypts_across_backends() -> None:
    for enc_be, dec_be in (("c", "python"), ("python", "c")):
        enc = FrameEncryptor(S1, SESSION, 7, backend=backend_module(enc_be))
        dec = FrameDecryptor(S1, SESSION, backend=backend_module(dec_be))
        for i in range(5):
            out = dec.open(enc.encrypt(b"frame-%d" % i, stream=2, metadata=b"m"), b"m")
            assert (out.sender_index, out.stream, out.epoch, out.ctr) == (7, 2, 0, i)
            assert out.payload == b"frame-%d" % i
        assert dec.drain_events() == []


@pytest.mark.parametrize("suite", [1, 2, 3, 4, 5])
def test_every_suite(suite: int) -> None:
    enc = FrameEncryptor(S1, SESSION, 2, suite=suite)
    dec = FrameDecryptor(S1, SESSION, suite=suite)
    assert dec.decrypt(enc.encrypt(b"x" * 300)) == b"x" * 300


def test_mismatch_then_match_when_the_right_secret_returns() -> None:
    alice = FrameEncryptor(S1, SESSION, 1)
    carol = FrameEncryptor(S1, SESSION, 3)
    bob = FrameDecryptor(WRONG, SESSION)
    for _ in range(3):
        with pytest.raises(AuthenticationError, match=r"^SFrame authentication failed$"):
            bob.decrypt(alice.encrypt(b"hi"))
    assert bob.drain_events() == [SecretEvent(ENCRYPTION_SECRET_MISMATCH, 1, 0x100)]
    with pytest.raises(AuthenticationError):
        bob.decrypt(carol.encrypt(b"hi"))
    assert [(e.kind, e.sender_index) for e in bob.drain_events()] == [
        (ENCRYPTION_SECRET_MISMATCH, 3)
    ]
    bob.set_secret(S1)
    assert bob.decrypt(alice.encrypt(b"back")) == b"back"
    assert bob.drain_events() == [SecretEvent(ENCRYPTION_SECRET_MATCH, 1, 0x100)]
    assert bob.decrypt(alice.encrypt(b"again")) == b"again"
    assert bob.drain_events() == []  # one match event, not one per frame


def test_sender_with_wrong_secret_fixes_it() -> None:
    alice = FrameEncryptor(WRONG, SESSION, 1)
    bob = FrameDecryptor(S1, SESSION)
    with pytest.raises(AuthenticationError):
        bob.decrypt(alice.encrypt(b"a"))
    alice.set_secret(S1)
    assert bob.decrypt(alice.encrypt(b"b")) == b"b"
    kinds = [e.kind for e in bob.drain_events()]
    assert kinds == [ENCRYPTION_SECRET_MISMATCH, ENCRYPTION_SECRET_MATCH]


def test_secret_change_mid_call_receivers_follow_without_a_gap() -> None:
    alice = FrameEncryptor(S1, SESSION, 1)
    bob = FrameDecryptor(S1, SESSION)
    assert bob.decrypt(alice.encrypt(b"0")) == b"0"
    late = alice.encrypt(b"late")  # held back in the network
    bob.set_secret(S2)  # bob learns the new secret first
    assert bob.decrypt(alice.encrypt(b"1")) == b"1"  # alice still on S1: no gap
    alice.set_secret(S2)
    assert alice.epoch == 1
    frame = alice.encrypt(b"2")
    assert split_kid(decode_header(frame)[0]).epoch == 1
    opened = bob.open(frame)
    assert (opened.epoch, opened.ctr, opened.payload) == (1, 0, b"2")
    assert bob.decrypt(late) == b"late"  # the old epoch still opens for in-flight frames
    assert bob.drain_events() == []


def test_sender_switches_first_receiver_catches_up() -> None:
    alice = FrameEncryptor(S1, SESSION, 1)
    bob = FrameDecryptor(S1, SESSION)
    alice.set_secret(S2)
    with pytest.raises(AuthenticationError):
        bob.decrypt(alice.encrypt(b"x"))
    bob.set_secret(S2)
    assert bob.decrypt(alice.encrypt(b"y")) == b"y"
    assert [e.kind for e in bob.drain_events()] == [
        ENCRYPTION_SECRET_MISMATCH,
        ENCRYPTION_SECRET_MATCH,
    ]


def test_old_secrets_are_forgotten_after_keep_previous() -> None:
    alice = FrameEncryptor(S1, SESSION, 1)
    bob = FrameDecryptor(S1, SESSION, keep_previous=1)
    old = alice.encrypt(b"old")
    bob.set_secret(S2)
    bob.set_secret(WRONG)  # S1 is now two secrets back
    with pytest.raises(AuthenticationError):
        bob.decrypt(old)


def test_replay_and_malformed_through_the_decryptor() -> None:
    alice = FrameEncryptor(S1, SESSION, 1)
    bob = FrameDecryptor(S1, SESSION)
    frame = alice.encrypt(b"once")
    bob.decrypt(frame)
    with pytest.raises(ReplayError):
        bob.decrypt(frame)
    with pytest.raises(MalformedHeaderError):
        bob.decrypt(b"")
    assert bob.drain_events() == []  # neither is a secret mismatch


def _key_counter_pairs(frames: list[tuple[str, bytes]]) -> list[tuple[bytes, bytes, int]]:
    """(sframe_key, sframe_salt, ctr) of every frame, from its header and its sender's secret."""
    pairs = []
    for secret, frame in frames:
        kid, ctr, _ = decode_header(frame)
        base = base_key_for_kid(derive_master_key(secret, SESSION), kid)
        key, salt = derive_key_salt(4, kid, base)
        pairs.append((key, salt, ctr))
    return pairs


def test_no_key_counter_pair_repeats_across_senders_streams_epochs_and_rejoin() -> None:
    alloc = KidAllocator()
    frames: list[tuple[str, bytes]] = []
    secret = {"now": S1}
    people = {name: FrameEncryptor(S1, SESSION, alloc.allocate()) for name in "abc"}

    def burst(n: int) -> None:
        for enc in people.values():
            for stream in (0, 1):
                for _ in range(n):
                    frames.append((secret["now"], enc.encrypt(b"media", stream=stream)))

    burst(5)
    people["a"] = FrameEncryptor(S1, SESSION, alloc.allocate())  # a leaves and joins again
    burst(5)
    for s in (S2, S1):  # secret changes, and back to the first one (a later epoch)
        secret["now"] = s
        for enc in people.values():
            enc.set_secret(s)
        burst(3)
    pairs = _key_counter_pairs(frames)
    assert len(pairs) == 3 * 2 * (5 + 5 + 3 + 3)
    assert len(set(pairs)) == len(pairs)
    nonces = {(k, (int.from_bytes(s, "big") ^ c)) for k, s, c in pairs}
    assert len(nonces) == len(pairs)  # (key, nonce) is unique too


def test_rejoin_reusing_a_sender_index_would_repeat_and_the_check_sees_it() -> None:
    """Negative control for the test above: the checker does catch a repeat."""
    first = FrameEncryptor(S1, SESSION, 9)
    frames = [(S1, first.encrypt(b"x"))]
    again = FrameEncryptor(S1, SESSION, 9)  # a rejoin that wrongly kept its index
    frames.append((S1, again.encrypt(b"y")))
    pairs = _key_counter_pairs(frames)
    assert len(set(pairs)) == 1


def test_epoch_wrap_back_to_the_same_secret_continues_the_counter() -> None:
    alice = FrameEncryptor(S1, SESSION, 1)
    bob = FrameDecryptor(S1, SESSION)
    for _ in range(3):
        bob.decrypt(alice.encrypt(b"e0"))
    for i in range(16):  # 16 changes: epoch 0 again, and S1 again
        alice.set_secret(S2 if i % 2 == 0 else S1)
    assert alice.epoch == 0
    frame = alice.encrypt(b"wrapped")
    assert decode_header(frame)[:2] == (0x100, 3)  # same KID and key: counter went on
    assert bob.decrypt(frame) == b"wrapped"


def test_allocator_never_repeats() -> None:
    alloc = KidAllocator()
    seen = [alloc.allocate() for _ in range(1000)]
    assert len(set(seen)) == 1000 and min(seen) == 1


def test_random_sender_index_range() -> None:
    got = {random_sender_index() for _ in range(100)}
    assert all(1 << 32 <= g < 1 << 33 for g in got) and len(got) > 90


def test_worked_example_of_docs_e2ee_md() -> None:
    """The worked example in docs/e2ee.md, for checking a browser implementation against."""
    master = derive_master_key("correct horse battery staple", "demo-session")
    assert master.hex() == "dc15be16bf10083360c0dabddf189cb517d5ac003939a9340a545c4efdedce36"
    base = base_key_for_kid(master, 0x213)
    assert base.hex() == "e1996023d2d6dfab33c3c3099fe9a738a43906772860af50309abf922fc95b79"
    key, salt = derive_key_salt(4, 0x213, base)
    assert (key.hex(), salt.hex()) == (
        "fa1314f902013d21932e71f595925d46", "7193a486801f6a771b92fd17"
    )
    enc = FrameEncryptor("correct horse battery staple", "demo-session", 1)
    assert enc.encrypt(b"hello").hex() == "9001008be74378dda2fdc747d1b7f904f1d370651ab8f38e"
