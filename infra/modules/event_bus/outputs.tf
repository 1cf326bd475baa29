output "events_topic_id" {
  description = "The events topic's ID (projects/<project>/topics/<name>)."
  value       = google_pubsub_topic.events.id
}

output "events_topic_name" {
  description = "The events topic's short name (collect's EVENTS_TOPIC)."
  value       = google_pubsub_topic.events.name
}

output "dead_letter_topic_id" {
  description = "The dead-letter topic's ID."
  value       = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription_name" {
  description = "The pull subscription holding dead letters for inspection and replay."
  value       = google_pubsub_subscription.dead_letter_inspect.name
}

output "archive_table" {
  description = "The raw event archive table (project.dataset.table), or null when the archive is off."
  value       = var.enable_event_archive ? "${var.project_id}.${google_bigquery_table.events[0].dataset_id}.${google_bigquery_table.events[0].table_id}" : null
}
