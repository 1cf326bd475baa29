output "bucket" {
  description = "The bucket holding the archive."
  value       = google_storage_bucket_object.this.bucket
}

output "object" {
  description = "The archive's object name (changes with the content)."
  value       = google_storage_bucket_object.this.name
}

output "files" {
  description = "The paths inside the archive."
  value       = sort(keys(local.files))
}
