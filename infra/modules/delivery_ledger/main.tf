/**
 * The delivery ledger: every "delivery" log line of the vendor functions (one per attempt,
 * docs/contracts.md) routed by a log sink into a BigQuery dataset with partitioned tables and
 * a partition expiry. Queries are in docs/ledger.md.
 *
 * Cloud Logging creates the table itself: the stdout log of Cloud Run becomes the table
 * run_googleapis_com_stdout, partitioned by the entry's timestamp, with jsonPayload's fields
 * as columns (jsonPayload.vendor, jsonPayload.outcome, ...).
 */

resource "google_bigquery_dataset" "this" {
  #checkov:skip=CKV_GCP_81:Google-managed encryption by default; set a dataset KMS key if your organisation requires CMEK.
  project                         = var.project_id
  dataset_id                      = var.dataset_id
  location                        = var.location
  description                     = "Delivery ledger: one row per delivery attempt of a vendor function (log sink ${var.sink_name})."
  default_partition_expiration_ms = var.retention_days * 86400000
  labels                          = var.labels
}

resource "google_logging_project_sink" "this" {
  project     = var.project_id
  name        = var.sink_name
  description = "Vendor functions' delivery lines to the BigQuery ledger."
  destination = "bigquery.googleapis.com/projects/${var.project_id}/datasets/${google_bigquery_dataset.this.dataset_id}"
  filter      = "resource.type=\"cloud_run_revision\" AND jsonPayload.message=\"delivery\""

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
