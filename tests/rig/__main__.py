"""Command line of the test rig.

python -m tests.rig build                 # build both Debian images (cached)
python -m tests.rig up NAME:SUITE [...]   # start hosts, print how to reach them
python -m tests.rig down                  # remove every rig host
"""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

from .hosts import start_host, stop_all
from .images import SUITES, ensure_all_images


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "build":
        for tag in ensure_all_images():
            print(tag)
    elif args.command == "up":
        _up(args.hosts)
    else:
        stop_all()
    return 0


def _up(specs: list[tuple[str, str]]) -> None:
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        hosts = list(pool.map(lambda spec: start_host(*spec), specs))
    print(f"{'NAME':<16} {'SUITE':<10} {'ADDRESS':<16} {'USER':<6} KEY")
    for host in hosts:
        print(f"{host.name:<16} {host.suite:<10} {host.address:<16} {host.user:<6} {host.key_path}")
    print("users: root, deploy (sudo without password), nosudo (no sudo)")


def _host_spec(spec: str) -> tuple[str, str]:
    name, _, suite = spec.partition(":")
    if not name or suite not in SUITES:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected NAME:SUITE, SUITE one of {SUITES}")
    return name, suite


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.rig", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build the bookworm and trixie images")
    up = commands.add_parser("up", help="start hosts NAME:SUITE")
    up.add_argument("hosts", nargs="+", type=_host_spec, metavar="NAME:SUITE")
    commands.add_parser("down", help="remove all rig hosts and the rig network")
    return parser


if __name__ == "__main__":
    sys.exit(main())
