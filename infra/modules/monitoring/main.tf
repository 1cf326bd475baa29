/**
 * Alerts on what the stack cannot fix by itself: messages a vendor subscription dead-lettered,
 * dead letters waiting for inspection, and deliveries a vendor rejected (4xx other than 429:
 * acked, so Pub/Sub will not retry them; the vendor's reason is in the delivery log line).
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

# One counter per rejected delivery, labelled with the vendor (docs/contracts.md).
resource "google_logging_metric" "rejected_deliveries" {
  project     = var.project_id
  name        = "tagging/rejected_deliveries"
  description = "Deliveries a vendor rejected (acked without retry); see the delivery ledger for reasons."
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.message=\"delivery\" AND jsonPayload.outcome=\"rejected\""

  label_extractors = {
    vendor = "EXTRACT(jsonPayload.vendor)"
    reason = "EXTRACT(jsonPayload.reason)"
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
      description = "Why the vendor rejected the event."
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

resource "google_monitoring_alert_policy" "rejected_deliveries" {
  project               = var.project_id
  display_name          = "Tagging: deliveries rejected by a vendor"
  combiner              = "OR"
  notification_channels = local.channels
  user_labels           = var.labels

  conditions {
    display_name = "Rejected deliveries per vendor"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.rejected_deliveries.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.rejected_deliveries_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = var.alignment_period
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.vendor"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A vendor answered 4xx (not 429): the events were acked and will not be retried. The reason of each is in the delivery ledger (docs/ledger.md, skip and rejection reasons)."
  }
}
