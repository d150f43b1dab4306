"""``rtpstack sframe`` sub-commands, run in process through the real CLI entry point."""

from __future__ import annotations

import pytest

from rtpstack.cli import main
from tests.sframe_helpers import rfc_vectors


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        rc = main(["sframe", *argv])
    except SystemExit as exc:  # argparse / error exits
        rc = int(exc.code or 0)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_encrypt_and_decrypt_rfc_vector(capsys: pytest.CaptureFixture[str]) -> None:
    v = rfc_vectors()["sframe"][3]  # suite 4
    common = ["--suite", str(v["cipher_suite"]), "--base-key", v["base_key"],
              "--metadata", v["metadata"]]
    rc, out, _ = run_cli(["encrypt", *common, "--kid", str(v["kid"]), "--ctr", str(v["ctr"]),
                          v["pt"]], capsys)
    assert rc == 0 and out.strip() == v["ct"]
    rc, out, _ = run_cli(["decrypt", *common, v["ct"]], capsys)
    assert rc == 0 and out.strip() == f"kid={v['kid']} ctr={v['ctr']} plaintext={v['pt']}"


def test_header_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run_cli(["header", "9901234567"], capsys)
    assert rc == 0 and out.strip() == "kid=291 ctr=17767 header_length=5"
    rc, _, err = run_cli(["header", "99"], capsys)
    assert rc != 0 and "SFrame header: KID needs 2 bytes, 0 present" in err
    rc, _, err = run_cli(["decrypt", "--base-key", "00" * 16, "0001020304050607080910111213141516"],
                         capsys)
    assert rc != 0 and "SFrame authentication failed" in err


def test_info_names_backend(capsys: pytest.CaptureFixture[str]) -> None:
    import rtpstack.sframe as sf

    rc, out, _ = run_cli(["info"], capsys)
    assert rc == 0 and out.splitlines()[0] == f"backend: {sf.backend}"


def test_derive_reads_secret_from_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rtpstack.e2ee import base_key_for_kid, derive_master_key

    monkeypatch.setenv("RTPSTACK_E2EE_SECRET", "correct horse battery staple")
    rc, out, _ = run_cli(["derive", "--session", "session-42", "--sender", "1"], capsys)
    base = base_key_for_kid(derive_master_key("correct horse battery staple", "session-42"), 256)
    assert rc == 0 and out.startswith(f"kid=256 base_key={base.hex()} ")
    monkeypatch.delenv("RTPSTACK_E2EE_SECRET")
    rc, _, err = run_cli(["derive", "--session", "s", "--sender", "1"], capsys)
    assert rc != 0 and "RTPSTACK_E2EE_SECRET" in err
