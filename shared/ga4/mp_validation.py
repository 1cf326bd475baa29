"""Measurement Protocol limits and reserved names, checked the way Google's validation
server reports them: ``{fieldPath, description, validationCode}`` messages.

Request-level problems (no client id, too many events, bad user properties) refuse the
whole request; event-level problems refuse only that event, so the others still count.
"""

from __future__ import annotations

import re
from typing import Any

MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_USER_PROPERTIES = 25
MAX_NAME = 40
MAX_USER_PROPERTY_NAME = 24
MAX_USER_PROPERTY_VALUE = 36
MAX_PARAM_VALUE = 100
MAX_ITEMS = 200
MAX_CUSTOM_ITEM_PARAMS = 10
MAX_AGE_MICROS = 72 * 3600 * 1_000_000
MAX_FUTURE_MICROS = 15 * 60 * 1_000_000

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

RESERVED_EVENT_NAMES = frozenset(
    [
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_impression",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_background",
        "app_clear_data",
        "app_exception",
        "app_remove",
        "app_store_refund",
        "app_store_subscription_cancel",
        "app_store_subscription_convert",
        "app_store_subscription_renew",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "first_open",
        "first_visit",
        "in_app_purchase",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "os_update",
        "session_start",
        "session_start_with_rollout",
        "user_engagement",
    ]
)
RESERVED_PARAM_NAMES = frozenset(("firebase_conversion",))
RESERVED_USER_PROPERTIES = frozenset(
    ("first_open_after_install", "first_open_time", "first_visit_time", "last_deep_link_referrer", "user_id")
)
RESERVED_PREFIXES = ("google_", "ga_", "firebase_")

STANDARD_ITEM_PARAMS = frozenset(
    [
        "item_id",
        "item_name",
        "affiliation",
        "coupon",
        "discount",
        "index",
        "item_brand",
        "item_category",
        "item_category2",
        "item_category3",
        "item_category4",
        "item_category5",
        "item_list_id",
        "item_list_name",
        "item_variant",
        "location_id",
        "price",
        "quantity",
        "promotion_id",
        "promotion_name",
        "creative_name",
        "creative_slot",
    ]
)
NUMERIC_ITEM_PARAMS = ("price", "quantity", "discount", "index")
CONSENT_VALUES = frozenset(("GRANTED", "DENIED"))
VALIDATION_BEHAVIORS = frozenset(("RELAXED", "ENFORCE_RECOMMENDATIONS"))

Message = dict[str, str]


def message(field_path: str, description: str, code: str) -> Message:
    """One validation message in Google's shape."""
    return {"fieldPath": field_path, "description": description, "validationCode": code}


def _shown(name: Any) -> str:
    # Names are echoed to help people; values never are (they may be personal data), and a
    # "name" that looks like an email address is not echoed either: messages reach the log.
    text = str(name)
    if "@" in text:
        return "(redacted: looks like an email address)"
    return text[: MAX_NAME + 10]


def _check_name(
    name: Any, path: str, owner: str, kind: str, max_length: int, reserved: frozenset[str]
) -> Message | None:
    """``owner`` and ``kind`` make the description: "Event at index: [0] has invalid event name [...]"."""
    if not isinstance(name, str) or not name:
        return message(path, f"{owner} is missing a {kind} name (a non-empty string).", "VALUE_REQUIRED")
    if len(name) > max_length:
        return message(
            path,
            f"{owner} has invalid {kind} name [{_shown(name)}]. Names can be at most {max_length} characters.",
            "NAME_INVALID",
        )
    if not NAME.fullmatch(name):
        return message(
            path,
            f"{owner} has invalid {kind} name [{_shown(name)}]. Names must start with an alphabetic character "
            "and contain only alphanumeric characters and underscores.",
            "NAME_INVALID",
        )
    if name in reserved or name.startswith(RESERVED_PREFIXES):
        return message(path, f"{owner} has {kind} name [{name}], which is reserved.", "NAME_RESERVED")
    return None


def _check_timestamp(value: Any, path: str, now_micros: int) -> Message | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return message(path, "timestamp_micros must be an integer (microseconds since the epoch).", "VALUE_INVALID")
    if value < now_micros - MAX_AGE_MICROS:
        return message(path, "timestamp_micros is more than 72 hours in the past.", "VALUE_OUT_OF_BOUNDS")
    if value > now_micros + MAX_FUTURE_MICROS:
        return message(path, "timestamp_micros is in the future.", "VALUE_OUT_OF_BOUNDS")
    return None


def validate_request(body: Any, now_micros: int) -> list[Message]:
    """Problems that make the whole request unusable."""
    if not isinstance(body, dict):
        return [message("", "The request body must be a JSON object.", "VALUE_INVALID")]
    found: list[Message] = []
    client_id, app_instance_id = body.get("client_id"), body.get("app_instance_id")
    if client_id is None and app_instance_id is None:
        found.append(message("client_id", "client_id is required (app_instance_id for app streams).", "VALUE_REQUIRED"))
    for key in ("client_id", "app_instance_id", "user_id", "ip_override"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            found.append(message(key, f"{key} must be a non-empty string.", "VALUE_INVALID"))
    events = body.get("events")
    if not isinstance(events, list) or not events:
        found.append(message("events", "events must be a non-empty list.", "VALUE_REQUIRED"))
    elif len(events) > MAX_EVENTS:
        found.append(
            message(
                "events",
                f"A request can carry at most {MAX_EVENTS} events; it has {len(events)}.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    if "timestamp_micros" in body:
        problem = _check_timestamp(body["timestamp_micros"], "timestamp_micros", now_micros)
        if problem:
            found.append(problem)
    found.extend(_validate_user_properties(body.get("user_properties"), now_micros))
    consent = body.get("consent")
    if consent is not None:
        if not isinstance(consent, dict):
            found.append(message("consent", "consent must be an object.", "VALUE_INVALID"))
        else:
            for purpose, value in consent.items():
                if purpose not in ("ad_user_data", "ad_personalization"):
                    found.append(
                        message(
                            f"consent.{_shown(purpose)}",
                            "Only ad_user_data and ad_personalization can be set.",
                            "NAME_INVALID",
                        )
                    )
                elif not isinstance(value, str) or value.upper() not in CONSENT_VALUES:
                    found.append(
                        message(f"consent.{purpose}", "Consent values must be GRANTED or DENIED.", "VALUE_INVALID")
                    )
    if "non_personalized_ads" in body and not isinstance(body["non_personalized_ads"], bool):
        found.append(message("non_personalized_ads", "non_personalized_ads must be a boolean.", "VALUE_INVALID"))
    for key in ("user_data", "user_location", "device"):
        if key in body and not isinstance(body[key], dict):
            found.append(message(key, f"{key} must be an object.", "VALUE_INVALID"))
    behavior = body.get("validation_behavior")
    if behavior is not None and behavior not in VALIDATION_BEHAVIORS:
        found.append(
            message(
                "validation_behavior",
                "validation_behavior must be RELAXED or ENFORCE_RECOMMENDATIONS.",
                "VALUE_INVALID",
            )
        )
    return found


def _validate_user_properties(properties: Any, now_micros: int) -> list[Message]:
    if properties is None:
        return []
    if not isinstance(properties, dict):
        return [message("user_properties", "user_properties must be an object.", "VALUE_INVALID")]
    found: list[Message] = []
    if len(properties) > MAX_USER_PROPERTIES:
        found.append(
            message(
                "user_properties",
                f"At most {MAX_USER_PROPERTIES} user properties are allowed.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for name, wrapped in properties.items():
        path = f"user_properties.{_shown(name)}"
        problem = _check_name(
            name, path, "The request", "user property", MAX_USER_PROPERTY_NAME, RESERVED_USER_PROPERTIES
        )
        if problem:
            found.append(problem)
            continue
        if not isinstance(wrapped, dict) or "value" not in wrapped:
            found.append(message(path, "A user property must be an object with a value.", "VALUE_REQUIRED"))
            continue
        value = wrapped["value"]
        if isinstance(value, (dict, list)):
            found.append(
                message(f"{path}.value", "A user property value must be a string or a number.", "VALUE_INVALID")
            )
        elif isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE:
            found.append(
                message(
                    f"{path}.value",
                    f"A user property value can be at most {MAX_USER_PROPERTY_VALUE} characters.",
                    "VALUE_OUT_OF_BOUNDS",
                )
            )
        if "timestamp_micros" in wrapped:
            problem = _check_timestamp(wrapped["timestamp_micros"], f"{path}.timestamp_micros", now_micros)
            if problem:
                found.append(problem)
    return found


def validate_event(event: Any, index: int, now_micros: int) -> list[Message]:
    """Problems of ``events[index]``; an event with any is refused, the others are not."""
    base = f"events[{index}]"
    if not isinstance(event, dict):
        return [message(base, f"Event at index: [{index}] must be an object.", "VALUE_INVALID")]
    found: list[Message] = []
    name = event.get("name")
    problem = _check_name(name, f"{base}.name", f"Event at index: [{index}]", "event", MAX_NAME, RESERVED_EVENT_NAMES)
    if problem:
        found.append(problem)
    if "timestamp_micros" in event:
        problem = _check_timestamp(event["timestamp_micros"], f"{base}.timestamp_micros", now_micros)
        if problem:
            found.append(problem)
    params = event.get("params", {})
    if params is None:
        return found
    if not isinstance(params, dict):
        found.append(message(f"{base}.params", "params must be an object.", "VALUE_INVALID"))
        return found
    counted = [key for key in params if key != "items"]
    if len(counted) > MAX_PARAMS:
        found.append(
            message(
                f"{base}.params",
                f"An event can have at most {MAX_PARAMS} parameters; it has {len(counted)}.",
                "EXCEEDED_MAX_ENTITIES",
            )
        )
    for key, value in params.items():
        path = f"{base}.params.{_shown(key)}"
        if key == "items":
            found.extend(_validate_items(value, path, index))
            continue
        problem = _check_name(key, path, f"Event at index: [{index}]", "parameter", MAX_NAME, RESERVED_PARAM_NAMES)
        if problem:
            found.append(problem)
        found.extend(_check_value(value, path))
    return found


def _check_value(value: Any, path: str) -> list[Message]:
    if isinstance(value, (dict, list)):
        return [message(path, "A parameter value must be a string, a number or a boolean.", "VALUE_INVALID")]
    if isinstance(value, str) and len(value) > MAX_PARAM_VALUE:
        return [message(path, f"A parameter value can be at most {MAX_PARAM_VALUE} characters.", "VALUE_OUT_OF_BOUNDS")]
    return []


def _validate_items(items: Any, path: str, event_index: int) -> list[Message]:
    if not isinstance(items, list):
        return [message(path, "items must be a list.", "VALUE_INVALID")]
    if len(items) > MAX_ITEMS:
        return [message(path, f"An event can carry at most {MAX_ITEMS} items.", "EXCEEDED_MAX_ENTITIES")]
    found: list[Message] = []
    for position, item in enumerate(items):
        item_path = f"{path}[{position}]"
        if not isinstance(item, dict):
            found.append(message(item_path, "An item must be an object.", "VALUE_INVALID"))
            continue
        if not item.get("item_id") and not item.get("item_name"):
            found.append(message(item_path, "An item needs item_id or item_name.", "VALUE_REQUIRED"))
        custom = [key for key in item if key not in STANDARD_ITEM_PARAMS]
        if len(custom) > MAX_CUSTOM_ITEM_PARAMS:
            found.append(
                message(
                    item_path,
                    f"An item can have at most {MAX_CUSTOM_ITEM_PARAMS} custom parameters.",
                    "EXCEEDED_MAX_ENTITIES",
                )
            )
        for key in custom:
            problem = _check_name(
                key,
                f"{item_path}.{_shown(key)}",
                f"Item at index: [{position}] of event [{event_index}]",
                "parameter",
                MAX_NAME,
                RESERVED_PARAM_NAMES,
            )
            if problem:
                found.append(problem)
        for key, value in item.items():
            found.extend(_check_value(value, f"{item_path}.{_shown(key)}"))
        for key in NUMERIC_ITEM_PARAMS:
            value = item.get(key)
            if isinstance(value, bool) or (
                value is not None and not isinstance(value, (int, float)) and not _numeric_text(value)
            ):
                found.append(message(f"{item_path}.{key}", f"{key} must be a number.", "VALUE_INVALID"))
    return found


def _numeric_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True
