"""``make vendor NAME=<name>``: scaffold a vendor folder and its golden tests.

Creates ``functions/vendors/<name>/main.py`` (a documented mapping to fill in) and
``tests/golden/vendors/<name>/{requests,responses}.json`` (whose first case fails until the
mapping is written), then prints the configuration entry to add. Standard library only.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "vendor_template"
NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
RESERVED = {"collect", "shared", "vendors", "template"}


def render(template: str, name: str) -> str:
    title = name.replace("_", " ").title()
    return template.replace("__NAME__", name).replace("__UPPER__", name.upper()).replace("__TITLE__", title)


def scaffold(name: str, root: Path = REPO_ROOT) -> list[Path]:
    """Write the vendor's files under ``root``; refuse to overwrite anything."""
    if not NAME.match(name) or name in RESERVED:
        raise ValueError(f"vendor name {name!r}: use 2-31 lowercase letters, digits or _, starting with a letter")
    targets = {
        root / "functions" / "vendors" / name / "main.py": "main.py.tmpl",
        root / "tests" / "golden" / "vendors" / name / "requests.json": "requests.json.tmpl",
        root / "tests" / "golden" / "vendors" / name / "responses.json": "responses.json.tmpl",
    }
    existing = [str(p.relative_to(root)) for p in targets if p.exists()]
    if existing:
        raise FileExistsError(f"vendor {name!r} already exists: {', '.join(existing)}")
    for path, template in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render((TEMPLATES / template).read_text(), name))
    return list(targets)


def config_snippet(name: str) -> str:
    return (
        f"  {name}:\n"
        f"    enabled: false        # true once its golden tests pass\n"
        f"    settings: {{}}\n"
        f"    secrets: [API_KEY]    # {name.upper()}_API_KEY\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the vendor's folder name, e.g. acme_ads")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        created = scaffold(args.name, args.root)
    except (ValueError, FileExistsError) as exc:
        print(f"make vendor: {exc}", file=sys.stderr)
        return 1
    print("created:")
    for path in created:
        print(f"  {path.relative_to(args.root)}")
    print(
        f'\nNext (README "Add a vendor"):\n'
        f"  1. write EVENT_MAP and build_request in functions/vendors/{args.name}/main.py\n"
        f"  2. put the exact expected requests in tests/golden/vendors/{args.name}/requests.json\n"
        f"     and run: .venv/bin/python -m pytest tests/unit/test_vendor_golden.py -k {args.name}\n"
        f"  3. add it to config/vendors.yaml under vendors:\n\n{config_snippet(args.name)}\n"
        f"  4. local secret: export {args.name.upper()}_API_KEY=...; cloud: make deploy, then\n"
        f"     printf %s VALUE | gcloud secrets versions add {args.name.upper()}_API_KEY --data-file=-\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
