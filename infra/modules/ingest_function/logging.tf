# collect's side of logging and the edge secret: kept apart from the function definition.

# Cloud Run's request log records every request's full URL: every gtag hit's query (client
# ids, page URLs with their own queries, user_data) and the Measurement Protocol api_secret.
# Collect writes its own "hit" line without them (docs/ga4-client.md), so the request log
# of collect's service is excluded from the _Default bucket. Requests are still counted in
# Cloud Run's metrics.
resource "google_logging_project_exclusion" "request_log" {
  count = var.exclude_request_log ? 1 : 0

  project     = var.project_id
  name        = "${var.name}-request-log"
  description = "Cloud Run request log of ${var.name}: full URLs with hit data and MP api secrets."
  filter      = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.name}\" AND log_id(\"run.googleapis.com/requests\")"
}

resource "google_secret_manager_secret_iam_member" "reads_edge_auth" {
  count = var.edge_auth_secret_id == null ? 0 : 1

  project   = var.project_id
  secret_id = var.edge_auth_secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.this.member
}
