/**
 * Alerts on what the stack cannot fix by itself: messages a vendor subscription dead-lettered,
 * dead letters waiting for inspection, and deliveries a vendor refused with HTTP 4xx (other
 * than 429: acked, so Pub/Sub will not retry them) or that failed as `vendor_misconfigured`
 * (a wrong token or pixel id: every event of the vendor fails the same way).
 *
 * Deliberately not counted: rejections the mapping makes itself (an event without a required
 * field, consent denied, ...). Anyone who can send a hit can cause those, so they are logged
 * and in the ledger, but they do not page anybody.
 */

locals {
  channels = var.alert_email == "" ? [] : [google_monitoring_notification_channel.email[0].id]
  # monitoring filter: subscription_id one of the vendors' push subscriptions
  vendor_subscription_filter = join(", ", [for s in var.vendor_subscriptions : "\"${s}\""])
}

resource "google_monitoring_notification_channel" "email" {
  count = var.alert_email == "" ? 0 : 1

  project      = var.project_id
  display_name = "Server-side tagging alerts"
  type         = "email"
  labels = {
    email_address = var.alert_email
  }
}

locals {
  # Delivery lines (docs/contracts.md) of a vendor's own refusal, or of a misconfiguration.
  vendor_refused = join(" AND ", [
    "jsonPayload.outcome=\"rejected\"",
    "jsonPayload.http_status>=400",
    "jsonPayload.http_status<500",
    "jsonPayload.http_status!=429",
  ])
  misconfigured = "severity>=ERROR AND jsonPayload.reason=~\"^vendor_misconfigured\""
}

# One counter per refused delivery, labelled with the vendor and the reason code.
resource "google_logging_metric" "rejected_deliveries" {
  project     = var.project_id
  name        = "tagging/rejected_deliveries"
  description = "Deliveries a vendor refused with HTTP 4xx (not 429) or that failed as vendor_misconfigured; see the delivery ledger for details."
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.message=\"delivery\" AND ((${local.vendor_refused}) OR (${local.misconfigured}))"

  # reason is a code such as http_400 or vendor_misconfigured: the text after the first
  # ':' (ages, field names, vendor messages) would make one time series per distinct value.
  label_extractors = {
    vendor = "EXTRACT(jsonPayload.vendor)"
    reason = "REGEXP_EXTRACT(jsonPayload.reason, \"^([a-z0-9_]{1,40})\")"
  }

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "vendor"
      value_type  = "STRING"
      description = "The vendor folder's name."
    }
    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "The reason code (before any ':' detail), e.g. http_400 or vendor_misconfigured."
    }
  }
}

resource "google_monitoring_alert_policy" "dead_lettered" {
  count = length(var.vendor_subscriptions) > 0 ? 1 : 0

  project               = var.project_id
  display_name          = "Tagging: events dead-lettered"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  conditions {
    display_name = "A vendor subscription dead-lettered messages"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.label.subscription_id = one_of(${local.vendor_subscription_filter})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = var.alignment_period
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.subscription_id"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A vendor function failed events on every attempt. Inspect `tagging-dead-letter-inspect` (attribute CloudPubSubDeadLetterSourceSubscription says which vendor), fix the cause, and replay them to `tagging-replay-<vendor>` (docs/ledger.md, dead-lettered events)."
  }
}

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project               = var.project_id
  display_name          = "Tagging: dead letters waiting"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  conditions {
    display_name = "Undelivered messages in ${var.dead_letter_subscription}"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.label.subscription_id = \"${var.dead_letter_subscription}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = var.alignment_period
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Dead letters wait in `${var.dead_letter_subscription}` (kept 7 days). Inspect and replay them before they expire."
  }
}

# Monitoring answers 404 "Cannot find metric(s) that match type = logging.googleapis.com/user/..."
# for minutes after a log-based metric is created (terraform-provider-google#11102). The wait
# runs when the metric is created, not on later deploys.
resource "time_sleep" "metric_ready" {
  create_duration = var.metric_propagation_wait
  triggers = {
    metric = google_logging_metric.rejected_deliveries.id
  }
}

resource "google_monitoring_alert_policy" "rejected_deliveries" {
  project               = var.project_id
  display_name          = "Tagging: deliveries rejected by a vendor"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  conditions {
    display_name = "Deliveries a vendor refused, per vendor (per second, averaged over the alignment period)"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.rejected_deliveries.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.rejected_deliveries_per_minute / 60
      duration        = "0s"
      aggregations {
        alignment_period     = var.alignment_period
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.vendor"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A vendor refused deliveries with HTTP 4xx (not 429), or they failed as `vendor_misconfigured` (token, pixel id or account settings): these events were acked and will not be retried. The metric label `reason` and the delivery ledger (docs/ledger.md) say why; fix the vendor's settings or secrets in config/vendors.yaml / Secret Manager."
  }

  depends_on = [time_sleep.metric_ready]
}
