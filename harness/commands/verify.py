"""`callproof verify BUNDLE --pubkey FILE | --allowed-signers FILE`.

Exit 0 only when the signature verifies with the trusted key and every file
matches SHA256SUMS with none missing or added; 1 otherwise, naming each file;
2 on bad arguments. Without a trusted key it prints the signer's fingerprint,
says the signer is not authenticated, and exits 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from callproof.harness.errors import ExitCode


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, metavar="BUNDLE", help="the bundle folder")
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--pubkey", type=Path, metavar="FILE", help="the signer's public key (ssh-ed25519 line, e.g. KEY.pub)"
    )
    trust.add_argument(
        "--allowed-signers",
        type=Path,
        metavar="FILE",
        help="an OpenSSH allowed_signers file (as for ssh-keygen -Y verify)",
    )


def main(args: argparse.Namespace) -> int:
    from callproof.reports import keys
    from callproof.reports.check import check_bundle, describe
    from callproof.reports.errors import ReportInputError

    if not args.bundle.is_dir():
        raise ReportInputError(f"{args.bundle} is not a bundle folder")
    if args.pubkey is not None:
        trusted = [keys.TrustedKey(keys.load_public(args.pubkey), str(args.pubkey))]
    elif args.allowed_signers is not None:
        trusted = keys.load_allowed_signers(args.allowed_signers)
    else:
        trusted = None
    result = check_bundle(args.bundle, trusted)
    for line in describe(result, args.bundle):
        print(line)
    return ExitCode.PASS if result.ok else ExitCode.FAIL
