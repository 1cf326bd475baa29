output "function_name" {
  description = "The function's name, which is also its Cloud Run service's name."
  value       = google_cloudfunctions2_function.this.name
}

output "uri" {
  description = "collect's own HTTPS URL (run.app)."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "service_account_email" {
  description = "collect's runtime identity."
  value       = google_service_account.this.email
}

output "secret_ids" {
  description = "collect's Secret Manager secrets (values are added with gcloud, never by Terraform)."
  value       = sort([for s in google_secret_manager_secret.this : s.secret_id])
}
