"""``rtpstack srtp``: generate SRTP keys and parse SDES ``a=crypto`` lines.

    rtpstack srtp keygen [--profile P] [--tag N] [--format line|inline|hex|json]
    rtpstack srtp parse 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:...' [--json]

``keygen --format inline`` prints only the base64 key||salt, the value ffmpeg takes as
``-srtp_out_params``.
"""

from __future__ import annotations

import argparse
import base64
import json

from rtpstack.srtp.profiles import DEFAULT_PROFILE, SrtpKeyingMaterial, SrtpProfile
from rtpstack.srtp.sdes import format_crypto_attribute, parse_crypto_attribute

__all__ = ["add_arguments", "run"]

_PROFILE_NAMES = [p.value for p in SrtpProfile]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``keygen`` and ``parse`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="srtp_command", metavar="ACTION")
    sub.required = True
    keygen = sub.add_parser("keygen", help="generate random SRTP keys")
    keygen.add_argument(
        "--profile",
        choices=_PROFILE_NAMES,
        default=DEFAULT_PROFILE.value,
        help=f"protection profile (default {DEFAULT_PROFILE.value})",
    )
    keygen.add_argument("--tag", type=int, default=1, help="a=crypto tag (default 1)")
    keygen.add_argument(
        "--format",
        choices=["line", "inline", "hex", "json"],
        default="line",
        help="line: a=crypto line; inline: base64 key||salt; hex: key and salt; json",
    )
    parse = sub.add_parser("parse", help="parse an SDES a=crypto line")
    parse.add_argument("line", help="the a=crypto line (quote it)")
    parse.add_argument("--json", action="store_true", help="print JSON")


def _describe(keys: SrtpKeyingMaterial) -> dict[str, object]:
    return {
        "profile": keys.profile.value,
        "master_key": keys.master_key.hex(),
        "master_salt": keys.master_salt.hex(),
        "inline": base64.b64encode(keys.key_and_salt).decode("ascii"),
    }


def run(args: argparse.Namespace) -> int:
    """Run the selected action; returns the exit status."""
    if args.srtp_command == "keygen":
        keys = SrtpKeyingMaterial.generate(SrtpProfile(args.profile))
        info = _describe(keys)
        if args.format == "line":
            print(format_crypto_attribute(args.tag, keys))
        elif args.format == "inline":
            print(info["inline"])
        elif args.format == "hex":
            print(f"master_key={info['master_key']} master_salt={info['master_salt']}")
        else:
            info["line"] = format_crypto_attribute(args.tag, keys)
            print(json.dumps(info, indent=2))
        return 0
    attr = parse_crypto_attribute(args.line)
    params = []
    for kp in attr.key_params:
        d = _describe(kp.keys)
        d.update(lifetime=kp.lifetime, mki=kp.mki, mki_length=kp.mki_length)
        params.append(d)
    if args.json:
        doc = {
            "tag": attr.tag,
            "profile": attr.profile.value,
            "key_params": params,
            "session_params": list(attr.session_params),
        }
        print(json.dumps(doc, indent=2))
        return 0
    print(f"tag: {attr.tag}")
    print(f"profile: {attr.profile.value}")
    for i, d in enumerate(params):
        print(f"key[{i}].master_key: {d['master_key']}")
        print(f"key[{i}].master_salt: {d['master_salt']}")
        if d["lifetime"] is not None:
            print(f"key[{i}].lifetime: {d['lifetime']}")
        if d["mki"] is not None:
            print(f"key[{i}].mki: {d['mki']} (length {d['mki_length']})")
    for sp in attr.session_params:
        print(f"session_param: {sp}")
    return 0
