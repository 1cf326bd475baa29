output "self_link" {
  description = "The security policy's self link, for a backend service's security_policy."
  value       = google_compute_security_policy.this.self_link
}

output "name" {
  description = "The security policy's name."
  value       = google_compute_security_policy.this.name
}
