output "job_name" {
  description = "The Cloud Scheduler job."
  value       = google_cloud_scheduler_job.drain.name
}

output "service_account_email" {
  description = "The job's identity (run.invoker on the vendor function only)."
  value       = google_service_account.scheduler.email
}
