output "function_name" {
  description = "The vendor function's name."
  value       = google_cloudfunctions2_function.this.name
}

output "uri" {
  description = "The vendor function's URL (internal ingress: reachable by Pub/Sub push only)."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "service_account_email" {
  description = "The vendor function's runtime identity."
  value       = google_service_account.this.email
}

output "subscription_names" {
  description = "The vendor's subscriptions: <vendor>-push (or <vendor>-pull in batch mode) and <vendor>-replay-push."
  value       = sort(concat(keys(google_pubsub_subscription.push), [for s in google_pubsub_subscription.pull : s.name]))
}

output "delivery" {
  description = "push or batch."
  value       = var.delivery
}

output "replay_topic" {
  description = "The vendor's replay topic (the replay tool publishes dead letters back here)."
  value       = google_pubsub_topic.replay.name
}

output "filter" {
  description = "The attribute filter of <vendor>-push (empty: every event)."
  value       = var.filter
}

output "secret_ids" {
  description = "The vendor's Secret Manager secrets (values are added with gcloud, never by Terraform)."
  value       = sort([for s in google_secret_manager_secret.this : s.secret_id])
}
