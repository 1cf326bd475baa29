/**
 * The event bus: the events topic, the dead-letter topic with a pull subscription to inspect
 * it, the Pub/Sub service agent's right to publish dead letters, and (by default) a BigQuery
 * subscription archiving every published event.
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
# The event archive (on by default): a BigQuery subscription writes every published event, with
# its metadata, to a table partitioned by day. No function, no per-event compute. The columns
# are archive_schema.json (docs/ledger.md, "The event archive"); devstack/archive.py writes the
# same rows locally.
# ---------------------------------------------------------------------------------------------

resource "google_bigquery_dataset" "archive" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption by default; set a dataset KMS key if your organisation requires CMEK.
  count = var.enable_event_archive ? 1 : 0

  project                         = var.project_id
  dataset_id                      = var.archive_dataset_id
  location                        = var.bigquery_location
  description                     = "Every event published to ${var.events_topic}, written by a Pub/Sub BigQuery subscription."
  default_partition_expiration_ms = var.archive_retention_days * 86400000
  labels                          = var.labels
}

resource "google_bigquery_table" "events" {
  #checkov:skip=CKV_GCP_80:Google-managed encryption by default; set a table KMS key if your organisation requires CMEK.
  count = var.enable_event_archive ? 1 : 0

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.archive[0].dataset_id
  table_id            = var.archive_table_id
  description         = "One row per published event: data is the normalized event (JSON), attributes the message attributes (JSON). Partitioned by the day of publish_time."
  deletion_protection = var.archive_deletion_protection
  labels              = var.labels

  time_partitioning {
    type          = "DAY"
    field         = "publish_time"
    expiration_ms = var.archive_retention_days * 86400000
  }

  # The columns a BigQuery subscription without a schema and with write_metadata fills:
  # data as JSON keeps every key of the event, including custom parameters no schema knows.
  schema = file("${path.module}/archive_schema.json")
}

resource "google_bigquery_table_iam_member" "service_agent_writes_archive" {
  count = var.enable_event_archive ? 1 : 0

  project    = var.project_id
  dataset_id = google_bigquery_table.events[0].dataset_id
  table_id   = google_bigquery_table.events[0].table_id
  role       = "roles/bigquery.dataEditor"
  member     = "serviceAccount:${var.pubsub_service_agent}"
}

# Pub/Sub checks the service agent's rights on the table when the subscription is created;
# a grant made seconds before is often not visible yet ("The service account ... does not
# have permission to write to table ...").
resource "time_sleep" "archive_grant" {
  count = var.enable_event_archive ? 1 : 0

  create_duration = "60s"
  triggers = {
    member = google_bigquery_table_iam_member.service_agent_writes_archive[0].member
    table  = google_bigquery_table_iam_member.service_agent_writes_archive[0].table_id
  }
}

resource "google_pubsub_subscription" "archive" {
  count = var.enable_event_archive ? 1 : 0

  project = var.project_id
  name    = var.archive_subscription
  topic   = google_pubsub_topic.events.id
  labels  = var.labels

  bigquery_config {
    table            = "${var.project_id}.${google_bigquery_table.events[0].dataset_id}.${google_bigquery_table.events[0].table_id}"
    use_table_schema = false
    use_topic_schema = false
    write_metadata   = true
  }

  # A row BigQuery refuses is retried, then kept in the dead-letter topic: never lost silently.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [time_sleep.archive_grant]
}

resource "google_pubsub_subscription_iam_member" "service_agent_forwards_archive_dead_letters" {
  count = var.enable_event_archive ? 1 : 0

  project      = var.project_id
  subscription = google_pubsub_subscription.archive[0].name
  role         = "roles/pubsub.subscriber"
  member       = "serviceAccount:${var.pubsub_service_agent}"
}
