/**
 * The event bus: the events topic, the dead-letter topic with a pull subscription to inspect
 * it, the Pub/Sub service agent's right to publish dead letters, and (optionally) a BigQuery
 * subscription archiving every raw event.
 */

resource "google_pubsub_topic" "events" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; a customer-managed key (and the service agent's KMS grant) is an organisation choice, not a default of this stack.
  project                    = var.project_id
  name                       = var.events_topic
  message_retention_duration = var.message_retention_duration
  labels                     = var.labels
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption; a customer-managed key (and the service agent's KMS grant) is an organisation choice, not a default of this stack.
  project                    = var.project_id
  name                       = var.dead_letter_topic
  message_retention_duration = var.message_retention_duration
  labels                     = var.labels
}

# Without a subscription, messages dead-lettered to a topic are lost.
resource "google_pubsub_subscription" "dead_letter_inspect" {
  project                    = var.project_id
  name                       = var.dead_letter_subscription
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = var.dead_letter_retention_duration
  retain_acked_messages      = false
  labels                     = var.labels

  expiration_policy {
    ttl = "" # never expires, even when nobody pulls for weeks
  }
}

# Dead-lettering: the service agent publishes to the dead-letter topic. Its subscriber grant on
# each source subscription is made next to that subscription (modules/vendor_function).
resource "google_pubsub_topic_iam_member" "service_agent_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${var.pubsub_service_agent}"
}

# ---------------------------------------------------------------------------------------------
# Optional raw event archive: a BigQuery subscription writing every message with its metadata.
# ---------------------------------------------------------------------------------------------

resource "google_bigquery_dataset" "archive" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption by default; set a dataset KMS key if your organisation requires CMEK.
  count = var.enable_event_archive ? 1 : 0

  project                         = var.project_id
  dataset_id                      = var.archive_dataset_id
  location                        = var.bigquery_location
  description                     = "Every raw event published to ${var.events_topic}, written by a Pub/Sub BigQuery subscription."
  default_partition_expiration_ms = var.archive_retention_days * 86400000
  labels                          = var.labels
}

resource "google_bigquery_table" "events" {
  #checkov:skip=CKV_GCP_80:Google-managed encryption by default; set a table KMS key if your organisation requires CMEK.
  count = var.enable_event_archive ? 1 : 0

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.archive[0].dataset_id
  table_id            = "events"
  description         = "One row per Pub/Sub message: data is the normalized event (JSON text), attributes the message attributes (JSON text)."
  deletion_protection = var.archive_deletion_protection
  labels              = var.labels

  time_partitioning {
    type          = "DAY"
    field         = "publish_time"
    expiration_ms = var.archive_retention_days * 86400000
  }

  # The columns a BigQuery subscription with write_metadata = true fills.
  schema = jsonencode([
    { name = "subscription_name", type = "STRING", mode = "NULLABLE" },
    { name = "message_id", type = "STRING", mode = "NULLABLE" },
    { name = "publish_time", type = "TIMESTAMP", mode = "NULLABLE" },
    { name = "data", type = "STRING", mode = "NULLABLE" },
    { name = "attributes", type = "STRING", mode = "NULLABLE" },
  ])
}

resource "google_bigquery_table_iam_member" "service_agent_writes_archive" {
  count = var.enable_event_archive ? 1 : 0

  project    = var.project_id
  dataset_id = google_bigquery_table.events[0].dataset_id
  table_id   = google_bigquery_table.events[0].table_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${var.pubsub_service_agent}"
}

resource "google_pubsub_subscription" "archive" {
  count = var.enable_event_archive ? 1 : 0

  project = var.project_id
  name    = "tagging-archive-bigquery"
  topic   = google_pubsub_topic.events.id
  labels  = var.labels

  bigquery_config {
    table          = "${var.project_id}.${google_bigquery_table.events[0].dataset_id}.${google_bigquery_table.events[0].table_id}"
    write_metadata = true
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [google_bigquery_table_iam_member.service_agent_writes_archive]
}

resource "google_pubsub_subscription_iam_member" "service_agent_forwards_archive_dead_letters" {
  count = var.enable_event_archive ? 1 : 0

  project      = var.project_id
  subscription = google_pubsub_subscription.archive[0].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent}"
}
