"""The vendor configuration file (config/vendors.yaml), shared with Terraform."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shared.privacy import anonymize
from shared.privacy import rules as privacy_rules

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = REPO_ROOT / "config" / "vendors.yaml"
VENDORS_DIR = REPO_ROOT / "functions" / "vendors"


@dataclass(frozen=True)
class RetryPolicy:
    max_delivery_attempts: int
    minimum_backoff_seconds: int
    maximum_backoff_seconds: int


DELIVERY_MODES = ("push", "batch")


@dataclass(frozen=True)
class BatchSettings:
    """Batch mode (``delivery: batch``): how often and how much a drain takes (docs/batch.md)."""

    local_interval_seconds: float = 5.0
    cloud_schedule: str = "* * * * *"
    max_messages: int = 1000
    drain_seconds: int = 50


@dataclass(frozen=True)
class VendorConfig:
    name: str
    enabled: bool = True
    # "push": a push subscription calls the function per event; "batch": a pull subscription
    # the function drains on a schedule into the vendor's batch API.
    delivery: str = "push"
    events: tuple[str, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    # config/vendors.yaml `transformations:` as JSON (every vendor gets the whole list and
    # applies the rules in its scope, as in the cloud); "" without rules.
    transformations: str = ""

    @property
    def source_dir(self) -> Path:
        return VENDORS_DIR / self.name

    def environment(self) -> dict[str, str]:
        """The vendor function's settings as ``<VENDOR>_<SETTING>`` environment variables."""
        prefix = self.name.upper()
        env = {f"{prefix}_{key}": str(value) for key, value in self.settings.items() if value not in (None, "")}
        if self.events:
            env[f"{prefix}_EVENTS"] = ",".join(self.events)
        if self.transformations:
            env[f"{prefix}_TRANSFORMATIONS"] = self.transformations
        return env


@dataclass(frozen=True)
class StackConfig:
    vendors: tuple[VendorConfig, ...]
    local_retry: RetryPolicy
    cloud_retry: RetryPolicy
    # privacy.ip_truncation: collect truncates every IP before publishing (docs/privacy.md).
    ip_truncation: str = ""

    def collect_environment(self) -> dict[str, str]:
        """Collect's settings from this file (Terraform passes the same to the function)."""
        return {"IP_TRUNCATION": self.ip_truncation} if self.ip_truncation else {}

    batch: BatchSettings = field(default_factory=BatchSettings)

    def enabled_vendors(self) -> tuple[VendorConfig, ...]:
        return tuple(v for v in self.vendors if v.enabled)

    def vendor(self, name: str) -> VendorConfig:
        for vendor in self.vendors:
            if vendor.name == name:
                return vendor
        raise KeyError(f"vendor {name!r} is not in the configuration")


def load(path: Path = CONFIG_PATH) -> StackConfig:
    """Read and validate the configuration; raise ``ValueError`` with what is wrong."""
    raw: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    delivery = raw.get("delivery") or {}
    try:
        rules = privacy_rules.parse_rules(raw.get("transformations"), (raw.get("vendors") or {}).keys())
    except privacy_rules.RuleError as exc:
        raise ValueError(f"{path}: {exc}") from None
    transformations = privacy_rules.encode(raw.get("transformations")) if rules else ""
    privacy = raw.get("privacy") or {}
    if not isinstance(privacy, dict) or set(privacy) - {"ip_truncation"}:
        raise ValueError(f"{path}: privacy: only 'ip_truncation' is known, got {privacy!r:.80}")
    ip_truncation = str(privacy.get("ip_truncation") or "").strip().lower()
    if ip_truncation not in anonymize.IP_SETTING_VALUES:
        raise ValueError(
            f"{path}: privacy.ip_truncation must be one of {list(anonymize.IP_MODES)} or none, got {ip_truncation!r}"
        )
    vendors = []
    for name, entry in (raw.get("vendors") or {}).items():
        entry = entry or {}
        if not (VENDORS_DIR / name / "main.py").is_file():
            raise ValueError(f"{path}: vendor {name!r} has no functions/vendors/{name}/main.py")
        mode = str(entry.get("delivery") or "push")
        if mode not in DELIVERY_MODES:
            raise ValueError(f"{path}: vendor {name!r} has delivery {mode!r}; use one of {', '.join(DELIVERY_MODES)}")
        vendors.append(
            VendorConfig(
                name=name,
                enabled=bool(entry.get("enabled", True)),
                delivery=mode,
                events=tuple(entry.get("events") or ()),
                settings={str(k): "" if v is None else str(v) for k, v in (entry.get("settings") or {}).items()},
                secrets=tuple(entry.get("secrets") or ()),
                transformations=transformations,
            )
        )
    for vendor in vendors:
        if vendor.enabled:
            _check_privacy(path, vendor, rules)
    return StackConfig(
        ip_truncation="" if ip_truncation == "none" else ip_truncation,
        vendors=tuple(vendors),
        local_retry=_retry(delivery.get("local") or {}, RetryPolicy(5, 1, 10)),
        cloud_retry=_retry(delivery.get("cloud") or {}, RetryPolicy(100, 10, 600)),
        batch=_batch(delivery.get("batch") or {}),
    )


def declaration(name: str) -> Any:
    """The vendor's ``VENDOR`` declaration (kind, required keys), imported from its folder."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module(f"functions.vendors.{name}.main").VENDOR


def _check_privacy(path: Path, vendor: VendorConfig, rules: tuple[privacy_rules.Rule, ...]) -> None:
    """Validate one vendor's privacy settings and the rules in its scope, as its function will
    at start-up; the message names the vendor, the rule and the key."""
    settings = {key.upper(): value for key, value in vendor.settings.items()}
    try:
        privacy_rules.check_settings(vendor.name, settings)
    except privacy_rules.RuleError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if settings.get("CLIENT_ID_MODE", "").strip().lower() == "anonymize" and not any(
        secret in ("CLIENT_ID_HMAC_KEY", f"{vendor.name.upper()}_CLIENT_ID_HMAC_KEY") for secret in vendor.secrets
    ):
        raise ValueError(
            f"{path}: vendor {vendor.name!r}: CLIENT_ID_MODE: anonymize needs CLIENT_ID_HMAC_KEY in its "
            "secrets (the HMAC key, from Secret Manager)"
        )
    if not rules:
        return
    declared = declaration(vendor.name)
    try:
        privacy_rules.check_vendor(rules, vendor.name, declared.kind, declared.all_required_keys())
    except privacy_rules.RuleError as exc:
        raise ValueError(f"{path}: vendor {vendor.name!r}: {exc}") from None


def _batch(raw: dict[str, Any]) -> BatchSettings:
    local = raw.get("local") or {}
    cloud = raw.get("cloud") or {}
    default = BatchSettings()
    settings = BatchSettings(
        local_interval_seconds=float(local.get("interval_seconds", default.local_interval_seconds)),
        cloud_schedule=str(cloud.get("schedule", default.cloud_schedule)),
        max_messages=int(raw.get("max_messages", default.max_messages)),
        drain_seconds=int(cloud.get("drain_seconds", default.drain_seconds)),
    )
    if not 1 <= settings.max_messages <= 1000:
        raise ValueError("delivery.batch.max_messages must be between 1 and 1000 (one Pub/Sub pull)")
    if not settings.local_interval_seconds > 0:
        raise ValueError("delivery.batch.local.interval_seconds must be positive")
    if not 15 <= settings.drain_seconds <= 3600:
        raise ValueError("delivery.batch.cloud.drain_seconds must be between 15 and 3600")
    return settings


def _retry(raw: dict[str, Any], default: RetryPolicy) -> RetryPolicy:
    policy = RetryPolicy(
        max_delivery_attempts=int(raw.get("max_delivery_attempts", default.max_delivery_attempts)),
        minimum_backoff_seconds=int(raw.get("minimum_backoff_seconds", default.minimum_backoff_seconds)),
        maximum_backoff_seconds=int(raw.get("maximum_backoff_seconds", default.maximum_backoff_seconds)),
    )
    if not 5 <= policy.max_delivery_attempts <= 100:
        raise ValueError("max_delivery_attempts must be between 5 and 100 (Pub/Sub's limits)")
    if not 0 <= policy.minimum_backoff_seconds <= policy.maximum_backoff_seconds <= 600:
        raise ValueError("backoff must satisfy 0 <= minimum <= maximum <= 600 seconds")
    return policy


def main() -> int:
    """``python -m devstack.config [path]``: validate the file (``make deploy`` runs it first)."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else CONFIG_PATH
    try:
        load(target)
    except (ValueError, yaml.YAMLError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 1
    print(f"{target}: ok", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
