"""`callproof verify BUNDLE --pubkey FILE | --allowed-signers FILE --signer NAME`.

Exit 0 only when the signature verifies with the trusted key (and, with an
allowed_signers file, for the principal NAME, as `ssh-keygen -Y verify -I NAME`),
every file matches SHA256SUMS with none missing or added, manifest.json agrees with
the files and the signer, and summary.json is what the verifier makes of the records
(recomputed here, in memory); 1 otherwise, naming each file or fact; 2 on bad
arguments. Without a trusted key it prints the signer's fingerprint, says the signer
is not authenticated, and exits 1. Names and values from the bundle are printed with
control characters escaped.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from callproof.harness.errors import BadInput, ExitCode


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
        help="an OpenSSH allowed_signers file (as for ssh-keygen -Y verify); needs --signer",
    )
    parser.add_argument(
        "--signer", metavar="NAME",
        help="the principal the bundle must be signed by, matched against the allowed_signers file "
             "(as ssh-keygen -Y verify -I NAME)",
    )


def main(args: argparse.Namespace) -> int:
    from callproof.harness.verdict.summary import disagreement
    from callproof.reports import keys
    from callproof.reports.check import check_bundle, describe
    from callproof.reports.errors import ReportInputError
    from callproof.reports.terminal import escape

    if args.allowed_signers is not None and args.signer is None:
        raise BadInput("--allowed-signers needs --signer NAME: the principal the bundle must be signed by "
                       "(as ssh-keygen -Y verify -I NAME)")
    if args.signer is not None and args.allowed_signers is None:
        raise BadInput("--signer names a principal of an allowed_signers file: give --allowed-signers FILE too")
    if not args.bundle.is_dir():
        raise ReportInputError(f"{escape(str(args.bundle))} is not a bundle folder")
    if args.pubkey is not None:
        trusted = [keys.TrustedKey(keys.load_public(args.pubkey), str(args.pubkey))]
    elif args.allowed_signers is not None:
        trusted = keys.load_allowed_signers(args.allowed_signers, args.signer)
    else:
        trusted = None
    result = check_bundle(args.bundle, trusted)
    if not result.files and result.sums_problem is None:  # the records are the ones signed
        problem = disagreement(args.bundle)
        if problem is not None:
            result = dataclasses.replace(result, facts=result.facts + (problem,))
    for line in describe(result, args.bundle):
        print(line)
    return ExitCode.PASS if result.ok else ExitCode.FAIL
