"""``rtpstack sframe``: encrypt and decrypt single frames, read headers, derive e2ee keys.

Examples::

    rtpstack sframe info
    rtpstack sframe header 9901234567...
    rtpstack sframe encrypt --base-key 00..0f --kid 291 --ctr 17767 --metadata 49.. 6472..
    rtpstack sframe decrypt --base-key 00..0f 9901234567449408...
    rtpstack sframe derive --secret-env E2EE_SECRET --session room-1 --sender 3 --stream 1
"""

from __future__ import annotations

import argparse
import os

from rtpstack.sframe._backend import select_backend
from rtpstack.sframe.context import DEFAULT_SUITE, make_key
from rtpstack.sframe.header import decode_header
from rtpstack.sframe.suites import SUITES, derive_key_salt

__all__ = ["add_arguments", "run"]


def _hex(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"not hexadecimal: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``sframe`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="sframe_command", metavar="ACTION")
    sub.required = True
    sub.add_parser("info", help="show the active backend and the cipher suites")
    h = sub.add_parser("header", help="decode the SFrame header of a hex frame")
    h.add_argument("frame", help="frame (or just its header) in hex")
    for name, text in (("encrypt", "encrypt one hex plaintext"), ("decrypt", "decrypt a frame")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--base-key", required=True, help="base key, hex (RFC 9605 4.4.2)")
        p.add_argument("--suite", type=int, default=DEFAULT_SUITE, choices=sorted(SUITES))
        p.add_argument("--metadata", default="", help="metadata (authenticated), hex")
        if name == "encrypt":
            p.add_argument("--kid", type=int, required=True)
            p.add_argument("--ctr", type=int, required=True)
            p.add_argument("plaintext", help="plaintext, hex")
        else:
            p.add_argument("frame", help="SFrame frame, hex")
    d = sub.add_parser("derive", help="e2ee keys of one sender from a secret and session id")
    d.add_argument("--secret-env", default="RTPSTACK_E2EE_SECRET",
                   help="environment variable holding the secret (default %(default)s)")
    d.add_argument("--session", required=True, help="session id")
    d.add_argument("--sender", type=int, required=True, help="sender index")
    d.add_argument("--stream", type=int, default=0)
    d.add_argument("--epoch", type=int, default=0)
    d.add_argument("--suite", type=int, default=DEFAULT_SUITE, choices=sorted(SUITES))


def run(args: argparse.Namespace) -> int:
    """Run one ``sframe`` action; returns the exit status."""
    action = args.sframe_command
    if action == "info":
        print(f"backend: {select_backend().NAME}")
        for s in SUITES.values():
            print(f"suite {s.value}: {s.name} (key {s.nk} B, tag {s.nt} B)")
    elif action == "header":
        kid, ctr, n = decode_header(_hex(args.frame))
        print(f"kid={kid} ctr={ctr} header_length={n}")
    elif action == "encrypt":
        key = make_key(args.suite, args.kid, _hex(args.base_key))
        print(key.encrypt(args.ctr, _hex(args.metadata), _hex(args.plaintext)).hex())
    elif action == "decrypt":
        frame = _hex(args.frame)
        kid, _, _ = decode_header(frame)
        key = make_key(args.suite, kid, _hex(args.base_key))
        ctr, plaintext = key.decrypt(frame, _hex(args.metadata))
        print(f"kid={kid} ctr={ctr} plaintext={plaintext.hex()}")
    elif action == "derive":
        from rtpstack.e2ee.keys import base_key_for_kid, derive_master_key, make_kid

        secret = os.environ.get(args.secret_env)
        if secret is None:
            raise ValueError(f"set the secret in the environment variable {args.secret_env}")
        kid = make_kid(args.sender, args.stream, args.epoch)
        base = base_key_for_kid(derive_master_key(secret, args.session), kid)
        key, salt = derive_key_salt(args.suite, kid, base)
        print(f"kid={kid} base_key={base.hex()} sframe_key={key.hex()} sframe_salt={salt.hex()}")
    return 0
