output "alert_policy_ids" {
  description = "The alert policies' IDs."
  value = concat(
    [for p in google_monitoring_alert_policy.dead_lettered : p.name],
    [google_monitoring_alert_policy.dead_letter_backlog.name, google_monitoring_alert_policy.rejected_deliveries.name],
  )
}

output "rejected_deliveries_metric" {
  description = "The log-based metric counting rejected deliveries by vendor and reason."
  value       = google_logging_metric.rejected_deliveries.name
}
