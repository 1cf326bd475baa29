# Batch mode (delivery = "batch"): the events reach the vendor through a pull subscription
# that the function itself drains (shared/delivery/drain.py) when Cloud Scheduler calls its
# POST /drain (modules/batch_drain). Same filter, retry and dead-letter policy as the push
# subscription it replaces; the replay subscription stays push.

locals {
  batch             = var.delivery == "batch"
  pull_subscription = "${local.sub_base}-pull"
  batch_env = local.batch ? {
    DRAIN_SUBSCRIPTION = "projects/${var.project_id}/subscriptions/${local.pull_subscription}"
    DRAIN_MAX_MESSAGES = tostring(var.batch.max_messages)
    DRAIN_SECONDS      = tostring(var.batch.drain_seconds)
  } : {}
}

resource "google_pubsub_subscription" "pull" {
  count = local.batch ? 1 : 0

  project = var.project_id
  name    = local.pull_subscription
  topic   = var.events_topic_id
  filter  = var.filter
  labels  = merge(var.labels, { vendor = local.slug })

  # A pulled message is answered (acked or nacked) within one drain; if the instance dies
  # mid-drain, Pub/Sub redelivers it after this deadline.
  ack_deadline_seconds       = var.scaling.timeout_seconds
  message_retention_duration = "604800s"

  retry_policy {
    minimum_backoff = "${var.minimum_backoff_seconds}s"
    maximum_backoff = "${var.maximum_backoff_seconds}s"
  }

  dead_letter_policy {
    dead_letter_topic     = var.dead_letter_topic_id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # a quiet vendor must not lose its subscription
  }

  lifecycle {
    precondition {
      condition     = length(var.filter) <= 256
      error_message = "The attribute filter of ${local.pull_subscription} is ${length(var.filter)} bytes; Pub/Sub allows 256. Shorten the vendor's events list in config/vendors.yaml."
    }
    precondition {
      condition     = var.batch.drain_seconds + 10 <= var.scaling.timeout_seconds
      error_message = "delivery.batch.cloud.drain_seconds (${var.batch.drain_seconds}) must be at least 10 s below vendor_functions.timeout_seconds (${var.scaling.timeout_seconds}): a drain must answer its messages before the function times out."
    }
    precondition {
      condition     = var.batch.max_messages >= 1 && var.batch.max_messages <= 1000
      error_message = "delivery.batch.max_messages must be between 1 and 1000 (one Pub/Sub pull)."
    }
  }
}

# The function pulls, acks and nacks its own subscription, and nothing else.
resource "google_pubsub_subscription_iam_member" "function_drains" {
  count = local.batch ? 1 : 0

  project      = var.project_id
  subscription = google_pubsub_subscription.pull[0].name
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.this.member
}

# Dead-lettering from the pull subscription, as for the push ones.
resource "google_pubsub_subscription_iam_member" "service_agent_dead_letters_pull" {
  count = local.batch ? 1 : 0

  project      = var.project_id
  subscription = google_pubsub_subscription.pull[0].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent}"
}
