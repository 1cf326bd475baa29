output "vendors" {
  description = "Deployed vendors: name => {events, delivery (push|batch), filter, secrets (<VENDOR>_<NAME>), settings (<VENDOR>_<SETTING> => value)}."
  value       = local.vendors
}

output "batch" {
  description = "Batch mode settings (delivery.batch): max_messages, schedule, drain_seconds, defaults filled in."
  value       = local.batch
}

output "delivery" {
  description = "The cloud retry and dead-letter policy (delivery.cloud) with defaults filled in."
  value       = local.delivery
}

output "missing_folders" {
  description = "Configured vendors without a functions/vendors/<name>/main.py."
  value       = local.missing_folders
}

output "duplicate_secrets" {
  description = "Secret names listed by more than one vendor (they must be unique Secret Manager IDs)."
  value       = length(local.all_secrets) != length(distinct(local.all_secrets))
}

output "folders" {
  description = "Every vendor folder found."
  value       = sort(local.folders)
}

output "collect_settings" {
  description = "Collect's environment from config/vendors.yaml `privacy:` (IP_TRUNCATION), as `make run` sets it."
  value       = contains(["", "none"], local.ip_truncation) ? {} : { IP_TRUNCATION = local.ip_truncation }
}
