#!/usr/bin/env python3
"""Deploy self-check: will Safari keep collect's server-set cookies?

Safari (WebKit, since 16.4) caps cookies set in a response to 7 days when the request goes
to a host that
- is a CNAME to another registrable domain (CNAME cloaking), or
- resolves to addresses sharing fewer than the first 16 bits (IPv4) / 64 bits (IPv6) with
  the page's own address (WebKit PR #5347, NetworkTaskCocoa.mm).

This resolves the site and the tracking host, warns in both cases, and prints the
same-origin path option (``/metrics`` on the site's own load balancer or CDN), which avoids
both. Usage::

    python tools/check_domain.py --site www.example.com --collect track.example.com
    python tools/check_domain.py --site www.example.com --path /metrics   # same-origin setup
    python tools/check_domain.py --collect track.example.com              # site = example.com

Exit status 0 (warnings are printed), 1 with ``--strict`` when there is a warning, 2 when a
host does not resolve. ``make check-domain SITE=... [DOMAIN=...]`` and ``make deploy`` run it.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.first_party.domain import registrable_domain  # noqa: E402


@dataclass
class Resolution:
    """A host's canonical name (after CNAMEs) and addresses."""

    host: str
    canonical: str
    ipv4: list[str] = field(default_factory=list)
    ipv6: list[str] = field(default_factory=list)


Resolver = Callable[[str], Resolution]


def resolve(host: str) -> Resolution:
    """The system resolver: ``gethostbyname_ex`` gives the canonical name, ``getaddrinfo`` the v6 addresses."""
    canonical, _aliases, ipv4 = socket.gethostbyname_ex(host)
    try:
        ipv6 = sorted({info[4][0] for info in socket.getaddrinfo(host, None, socket.AF_INET6)})
    except socket.gaierror:
        ipv6 = []
    return Resolution(host, canonical.rstrip(".").lower(), sorted(set(ipv4)), ipv6)


def shares_prefix(a: str, b: str) -> bool:
    """Whether two addresses share the first 16 bits (IPv4) or 64 bits (IPv6)."""
    x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    if x.version != y.version:
        return False
    bits = 16 if x.version == 4 else 64
    return ipaddress.ip_network(f"{x}/{bits}", strict=False) == ipaddress.ip_network(f"{y}/{bits}", strict=False)


def check(site: str, collect: str, resolver: Resolver = resolve) -> tuple[list[str], list[str]]:
    """``(warnings, notes)`` for a site and its tracking host."""
    warnings: list[str] = []
    notes: list[str] = []
    site_res, collect_res = resolver(site), resolver(collect)
    site_domain = registrable_domain(site) or site
    collect_domain = registrable_domain(collect) or collect
    if collect_domain != site_domain:
        warnings.append(
            f"{collect} is not on the site's registrable domain {site_domain}: its cookies are third-party; use a subdomain of {site_domain}"
        )
    if collect_res.canonical != collect.lower().rstrip("."):
        target_domain = registrable_domain(collect_res.canonical) or collect_res.canonical
        if target_domain != site_domain:
            warnings.append(
                f"{collect} is a CNAME to {collect_res.canonical} ({target_domain}): Safari treats this as CNAME cloaking "
                "and caps cookies set by its responses to 7 days"
            )
        else:
            notes.append(f"{collect} is a CNAME to {collect_res.canonical}, on the site's own domain")
    pairs = [(s, c) for s in site_res.ipv4 for c in collect_res.ipv4] + [
        (s, c) for s in site_res.ipv6 for c in collect_res.ipv6
    ]
    unmatched = [
        c
        for c in collect_res.ipv4 + collect_res.ipv6
        if not any(shares_prefix(s, c) for s in site_res.ipv4 + site_res.ipv6)
    ]
    if not pairs:
        warnings.append(f"{site} and {collect} have no address family in common: Safari cannot see a shared prefix")
    elif unmatched:
        warnings.append(
            f"{collect} resolves to {', '.join(unmatched)}, which shares fewer than the first 16 bits (IPv4) / 64 bits (IPv6) "
            f"with {site} ({', '.join(site_res.ipv4 + site_res.ipv6)}): Safari caps its server-set cookies to 7 days"
        )
    else:
        notes.append(f"{collect} shares the address prefix with {site}: Safari keeps server-set cookies")
    return warnings, notes


def same_origin_advice(site: str, path: str, collect: str) -> str:
    """The same-origin path option, with routing config for Cloud Load Balancing and a generic CDN."""
    domain = registrable_domain(site) or site
    origin = collect or "<collect's run.app or tracking host>"
    return f"""
Same-origin option: serve collect under https://{site}{path}/ through the site's own load balancer
or CDN. The page and collect then share host and addresses, so Safari keeps the cookies.
  - Page config: gtag('config', 'G-…', {{server_container_url: 'https://{site}{path}'}}) and load
    https://{site}{path}/gtag/js?id=G-… (or set TAG_SERVER_CONTAINER_URL=https://{site}{path}).
  - Collect setting: COOKIE_DOMAIN={domain} (collect sees its own host, not the site's).

  Google Cloud external Application Load Balancer of the site (Terraform, url map):
    path_matcher {{
      name            = "site"
      default_service = <the site's backend service>
      route_rules {{
        priority = 1
        match_rules {{ prefix_match = "{path}/" }}
        service = <collect's backend service (serverless NEG)>
        route_action {{
          url_rewrite {{ path_prefix_rewrite = "/" }}
        }}
      }}
    }}

  Generic CDN or reverse proxy (nginx shown; Cloudflare/Fastly/CloudFront: same rule):
    location {path}/ {{
      proxy_pass https://{origin}/;        # the trailing slash strips {path}/
      proxy_set_header Host {origin};
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_ssl_server_name on;
      proxy_pass_request_headers on;       # Cookie must reach collect
      proxy_cache off;                     # hits are events; scripts carry their own Cache-Control
    }}
"""


def main(argv: list[str] | None = None, resolver: Resolver = resolve) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--site",
        default="",
        help="the site's host, e.g. www.example.com (default: the tracking host's registrable domain)",
    )
    parser.add_argument("--collect", default="", help="the tracking host serving collect, e.g. track.example.com")
    parser.add_argument(
        "--path", default="/metrics", help="the same-origin path to suggest (or that is used, without --collect)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when there is a warning")
    args = parser.parse_args(argv)
    path = "/" + args.path.strip("/")
    collect = args.collect.strip().lower().rstrip(".")
    site = args.site.strip().lower().rstrip(".") or (registrable_domain(collect) or "" if collect else "")
    if not site:
        parser.error("--site is required (or --collect, whose registrable domain is then taken as the site)")
    if not collect or collect == site:
        print(
            f"ok: collect is served from the site's own origin (https://{site}{path}/): Safari keeps server-set cookies"
        )
        return 0
    try:
        warnings, notes = check(site, collect, resolver)
    except (socket.gaierror, socket.herror, UnicodeError) as exc:
        print(f"check-domain: cannot resolve {site} or {collect}: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"ok: {note}")
    for warning in warnings:
        print(f"WARNING: {warning}")
    if warnings:
        print(same_origin_advice(site, path, collect))
    return 1 if warnings and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
