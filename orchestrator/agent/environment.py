"""Which environment variables reach a job's run, and which its helper processes carry.

A run gets a short base taken from the agent's environment (:data:`BASE_NAMES`, ``LC_*``), the
job's identity markers, the names its target lets through, the spec's ``env`` and ``secrets``, and
the contract's ``TRAINCTL_*`` variables; nothing else (no cloud keys of the person who ran `up`).
Helper processes the agent starts (finalize, shutdown) get the agent's environment without the
job's secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BASE_NAMES = (
    "PATH",
    "HOME",
    "LANG",
    "TERM",
    "TZ",
    "USER",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    # where TLS trust comes from, so that the proxies above work for pip, requests and curl
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)
BASE_PREFIXES = ("LC_",)
# Set by trainctl on the agent: which job, trainctl home and backend a process belongs to (leak detection).
IDENTITY_NAMES = ("TRAINCTL_JOB_ID", "TRAINCTL_JOB_HOME", "TRAINCTL_JOB_BACKEND")


def base_environment(environ: Mapping[str, str], extra_names: Iterable[str] = ()) -> dict[str, str]:
    """The documented base of ``environ``, plus the identity markers and ``extra_names``."""
    wanted = {*BASE_NAMES, *IDENTITY_NAMES, *extra_names}
    return {k: v for k, v in environ.items() if k in wanted or k.startswith(BASE_PREFIXES)}


def run_environment(
    environ: Mapping[str, str],
    *,
    spec_env: Mapping[str, str],
    secret_names: Iterable[str],
    extra_names: Iterable[str],
    contract: Mapping[str, str],
) -> dict[str, str]:
    """A run's whole environment: the base, the spec's ``env``, its secrets, then the contract."""
    secrets = {name: environ[name] for name in secret_names if name in environ}
    return {**base_environment(environ, extra_names), **spec_env, **secrets, **contract}


def without_secrets(environ: Mapping[str, str], secret_names: Iterable[str]) -> dict[str, str]:
    """``environ`` minus the job's secrets (for helper processes)."""
    hidden = set(secret_names)
    return {k: v for k, v in environ.items() if k not in hidden}
