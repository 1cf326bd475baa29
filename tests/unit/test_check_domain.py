"""The deploy self-check (tools/check_domain.py): CNAME cloaking and the 16/64-bit prefix rule.

Rule: WebKit caps cookies set by a subresource response to 7 days when the host resolves to
no CNAME and its IP shares fewer than 4*sizeof(in_addr) = 16 bits (IPv4) / 4*sizeof(in6_addr)
= 64 bits (IPv6) with the main document's IP; a CNAME to another registrable domain falls
under the CNAME-cloaking cap. https://github.com/WebKit/WebKit/pull/5347 (bug 246477).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tools import check_domain
from tools.check_domain import Resolution

REPO_ROOT = Path(__file__).resolve().parents[2]


def table(entries: dict[str, Resolution]):
    def resolver(host: str) -> Resolution:
        if host not in entries:
            raise socket.gaierror(-2, "Name or service not known")
        return entries[host]

    return resolver


SITE = Resolution("www.example.com", "www.example.com", ["203.0.113.10"], ["2001:db8:1:2::10"])


def run(collect: Resolution, capsys, *extra: str) -> tuple[int, str]:
    resolver = table({"www.example.com": SITE, collect.host: collect})
    status = check_domain.main(["--site", "www.example.com", "--collect", collect.host, *extra], resolver)
    return status, capsys.readouterr().out


def test_a_cname_to_another_registrable_domain_is_flagged(capsys):
    # Cloud Run domain mapping: track.example.com CNAME ghs.googlehosted.com.
    status, out = run(Resolution("track.example.com", "ghs.googlehosted.com", ["203.0.113.99"], []), capsys)
    assert status == 0
    assert "WARNING: track.example.com is a CNAME to ghs.googlehosted.com (googlehosted.com)" in out
    assert "route_rules" in out and "location /metrics/" in out and "COOKIE_DOMAIN=example.com" in out


def test_strict_mode_fails_on_a_warning(capsys):
    status, _ = run(Resolution("track.example.com", "ghs.googlehosted.com", ["203.0.113.99"], []), capsys, "--strict")
    assert status == 1


def test_addresses_outside_the_first_16_bits_are_flagged(capsys):
    # A load balancer IP of its own while the site is hosted elsewhere.
    status, out = run(Resolution("track.example.com", "track.example.com", ["34.120.1.2"], []), capsys)
    assert "shares fewer than the first 16 bits" in out and "34.120.1.2" in out and "route_rules" in out


def test_addresses_sharing_16_bits_pass(capsys):
    status, out = run(Resolution("track.example.com", "track.example.com", ["203.0.200.1"], []), capsys, "--strict")
    assert status == 0 and "WARNING" not in out and "shares the address prefix" in out


@pytest.mark.parametrize(
    "ipv6, flagged",
    [("2001:db8:1:2::99", False), ("2001:db8:1:3::99", True)],  # same /64 vs next /64
)
def test_ipv6_uses_64_bits(ipv6, flagged, capsys):
    _, out = run(Resolution("track.example.com", "track.example.com", [], [ipv6]), capsys)
    assert ("WARNING" in out) == flagged


def test_a_cname_within_the_sites_domain_is_fine(capsys):
    status, out = run(Resolution("track.example.com", "lb.example.com", ["203.0.9.9"], []), capsys, "--strict")
    assert status == 0 and "on the site's own domain" in out


def test_a_tracking_host_on_another_domain_is_flagged(capsys):
    _, out = run(Resolution("track.other.net", "track.other.net", ["203.0.1.1"], []), capsys)
    assert "is not on the site's registrable domain example.com" in out


def test_the_same_origin_path_setup_passes(capsys):
    assert check_domain.main(["--site", "www.example.com", "--path", "/metrics", "--strict"], table({})) == 0
    assert "site's own origin (https://www.example.com/metrics/)" in capsys.readouterr().out


def test_an_unresolvable_host_is_exit_2(capsys):
    assert (
        check_domain.main(
            ["--site", "www.example.com", "--collect", "nx.example.com"], table({"www.example.com": SITE})
        )
        == 2
    )


def test_the_system_resolver_and_the_command_line_work_offline():
    # localhost resolves without a network: same addresses, but an IP is another site.
    assert check_domain.resolve("localhost").ipv4 == ["127.0.0.1"]
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tools" / "check_domain.py"),
            "--site",
            "localhost",
            "--collect",
            "127.0.0.1",
            "--strict",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "ok: 127.0.0.1 shares the address prefix with localhost" in result.stdout
    assert "WARNING: 127.0.0.1 is not on the site's registrable domain localhost" in result.stdout
