"""Registry options shared by the commands that talk to registries (not a command itself)."""

from __future__ import annotations

import argparse
import sys

from soci_ci.app.options import RegistryOptions
from soci_ci.cli.environment import (
    REGISTRY_HOST,
    REGISTRY_PASSWORD,
    REGISTRY_USERNAME,
    Environment,
)
from soci_ci.redaction import remember_secret
from soci_ci.registry.reference import parse_registry_host


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
        help=f"the one registry host --username/--password are sent to (env {REGISTRY_HOST}); "
        "default: the host of the image the command names",
    )
    group.add_argument(
        "--username",
        help=f"registry user (env {REGISTRY_USERNAME}), for the --registry host only; "
        "other hosts: Docker config, ECR",
    )
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password from stdin (else env {REGISTRY_PASSWORD})",
    )


def registry_options(args: argparse.Namespace) -> RegistryOptions:
    """The registry options of one command; stdin (``--password-stdin``) is read once."""
    env: Environment = args.environment
    password = env.registry_password
    if args.password_stdin:
        password = sys.stdin.readline(65536).rstrip("\r\n")
        remember_secret(password)
    host = parse_registry_host(args.registry, what="--registry") if args.registry else None
    return RegistryOptions(
        credentials_host=host or env.registry_host,
        plain_http=args.plain_http,
        ca_file=args.ca_file,
        insecure=args.insecure,
        username=args.username or env.registry_username,
        password=password,
        timeout=env.registry_timeout,
        retry_base=env.retry_base,
        docker_config=env.docker_config_dir,
    )


def environment_registry_options(env: Environment, *, host: str | None) -> RegistryOptions:
    """`soci-ci run`: the registry login and timeouts come from the environment only; the
    login goes to ``host`` (SOCI_CI_REGISTRY_HOST, else the repository's host)."""
    return RegistryOptions(
        credentials_host=env.registry_host or host,
        username=env.registry_username,
        password=env.registry_password,
        timeout=env.registry_timeout,
        retry_base=env.retry_base,
        docker_config=env.docker_config_dir,
    )
