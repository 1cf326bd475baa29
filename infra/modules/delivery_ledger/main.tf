/**
 * The delivery ledger: every "delivery" log line of the vendor functions (one per attempt,
 * docs/contracts.md) routed by a log sink into a BigQuery dataset with partitioned tables and
 * a partition expiry. Queries are in docs/ledger.md.
 *
 * Cloud Logging creates the table itself: the stdout log of Cloud Run becomes the table
 * run_googleapis_com_stdout, partitioned by the entry's timestamp, with jsonPayload's fields
 * as columns (jsonPayload.vendor, jsonPayload.outcome, ...).
 */

locals {
  sink_filter = "resource.type=\"cloud_run_revision\" AND jsonPayload.message=\"delivery\""
}

resource "google_bigquery_dataset" "this" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption by default; set a dataset KMS key if your organisation requires CMEK.
  project                         = var.project_id
  dataset_id                      = var.dataset_id
  location                        = var.location
  description                     = "Delivery ledger: one row per delivery attempt of a vendor function (log sink ${var.sink_name})."
  default_partition_expiration_ms = var.retention_days * 86400000
  labels                          = var.labels

  # Cloud Logging creates run_googleapis_com_stdout here on the first line; Terraform does not
  # know that table, and without this `make destroy` fails with "is still in use".
  delete_contents_on_destroy = var.delete_contents_on_destroy
}

resource "google_logging_project_sink" "this" {
  project     = var.project_id
  name        = var.sink_name
  description = "Vendor functions' delivery lines to the BigQuery ledger."
  destination = "bigquery.googleapis.com/projects/${var.project_id}/datasets/${google_bigquery_dataset.this.dataset_id}"
  filter      = local.sink_filter

  # One writer identity per sink, granted on this dataset only.
  unique_writer_identity = true

  bigquery_options {
    use_partitioned_tables = true
  }
}

resource "google_bigquery_dataset_iam_member" "sink_writes" {
  project    = var.project_id
  dataset_id = google_bigquery_dataset.this.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_logging_project_sink.this.writer_identity
}

# The sink's writer identity is granted above; until the grant reaches BigQuery the sink
# cannot write, so the routine lines stay in _Default until then.
resource "time_sleep" "sink_grant" {
  count = var.exclude_from_default ? 1 : 0

  create_duration = "60s"
  triggers = {
    member = google_bigquery_dataset_iam_member.sink_writes.member
  }
}

# Routine delivery lines are stored once, in the ledger. Project exclusions apply to the
# _Default sink only, so the ledger sink still receives them. Rejections, retries, dead letters
# and errors stay in _Default too: they are what an operator searches in Logs Explorer, and
# what the rejected-deliveries metric counts.
resource "google_logging_project_exclusion" "routine_delivery_lines" {
  count = var.exclude_from_default ? 1 : 0

  project     = var.project_id
  name        = "${var.sink_name}-routine"
  description = "Delivery lines delivered/skipped/dry_run are kept in the BigQuery ledger only (sink ${var.sink_name})."
  filter      = "${local.sink_filter} AND (${join(" OR ", [for o in ["delivered", "skipped", "dry_run"] : "jsonPayload.outcome=\"${o}\""])}) AND severity<WARNING"

  depends_on = [time_sleep.sink_grant]
}
