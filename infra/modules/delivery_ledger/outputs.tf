output "dataset" {
  description = "The ledger dataset (project.dataset)."
  value       = "${var.project_id}.${google_bigquery_dataset.this.dataset_id}"
}

output "table" {
  description = "The table Cloud Logging writes the delivery lines to (created on the first line)."
  value       = "${var.project_id}.${google_bigquery_dataset.this.dataset_id}.run_googleapis_com_stdout"
}

output "sink_writer_identity" {
  description = "The sink's writer identity (granted BigQuery Data Editor on the dataset only)."
  value       = google_logging_project_sink.this.writer_identity
}
