"""Registry options shared by the commands that talk to registries (not a command itself)."""

from __future__ import annotations

import argparse
import os
import sys

from soci_ci.app.stores import RegistryOptions
from soci_ci.redaction import remember_secret
from soci_ci.registry.reference import parse_registry_host

HOST_ENV = "SOCI_CI_REGISTRY_HOST"


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry")
    group.add_argument(
        "--plain-http",
        action="store_true",
        help="use HTTP, not HTTPS (automatic for 127.0.0.1/localhost without --ca-file)",
    )
    group.add_argument(
        "--ca-file", metavar="PEM", help="CA bundle that signed the registry's certificate"
    )
    group.add_argument(
        "--insecure", action="store_true", help="skip TLS verification (test registries)"
    )
    group.add_argument(
        "--registry",
        metavar="HOST[:PORT]",
        default=os.environ.get(HOST_ENV) or None,
        help=f"the one registry host --username/--password are sent to (env {HOST_ENV}); "
        "default: the host of the image the command names",
    )
    group.add_argument(
        "--username",
        default=os.environ.get("SOCI_CI_REGISTRY_USERNAME"),
        help="registry user (env SOCI_CI_REGISTRY_USERNAME), for the --registry host only; "
        "other hosts: Docker config, ECR",
    )
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (else env SOCI_CI_REGISTRY_PASSWORD)",
    )


def registry_options(args: argparse.Namespace) -> RegistryOptions:
    password = os.environ.get("SOCI_CI_REGISTRY_PASSWORD")
    if args.password_stdin:
        password = sys.stdin.readline(65536).rstrip("\r\n")
    remember_secret(password)
    host = getattr(args, "registry", None)
    return RegistryOptions(
        credentials_host=parse_registry_host(host, what="--registry") if host else None,
        plain_http=args.plain_http,
        ca_file=args.ca_file,
        insecure=args.insecure,
        username=args.username,
        password=password,
        timeout=float(os.environ.get("SOCI_CI_REGISTRY_TIMEOUT", "60")),
        retry_base=float(os.environ.get("SOCI_CI_RETRY_BASE_SECONDS", "0.5")),
    )
