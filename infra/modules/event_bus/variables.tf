variable "project_id" {
  description = "The project of the topics and subscriptions."
  type        = string
}

variable "events_topic" {
  description = "The topic collect publishes every normalized event to."
  type        = string
  default     = "tagging-events"
}

variable "dead_letter_topic" {
  description = "The topic push subscriptions dead-letter to after their last attempt."
  type        = string
  default     = "tagging-dead-letter"
}

variable "dead_letter_subscription" {
  description = "The pull subscription for inspecting (and replaying) dead letters."
  type        = string
  default     = "tagging-dead-letter-inspect"
}

variable "message_retention_duration" {
  description = "How long the topics keep messages (lets a subscription seek back, e.g. after a vendor outage)."
  type        = string
  default     = "86400s"
}

variable "dead_letter_retention_duration" {
  description = "How long unacknowledged dead letters wait in the inspection subscription (at most 7 days)."
  type        = string
  default     = "604800s"
}

variable "pubsub_service_agent" {
  description = "Email of the project's Pub/Sub service agent (service-<number>@gcp-sa-pubsub.iam.gserviceaccount.com)."
  type        = string
}

variable "enable_event_archive" {
  description = "Create a BigQuery subscription that archives every published event (docs/ledger.md)."
  type        = bool
  default     = true
}

variable "archive_table_id" {
  description = "The archive's table (columns: archive_schema.json)."
  type        = string
  default     = "events"
}

variable "archive_subscription" {
  description = "The BigQuery subscription writing the archive."
  type        = string
  default     = "tagging-archive-bigquery"
}

variable "bigquery_location" {
  description = "Location of the archive dataset."
  type        = string
  default     = "EU"
}

variable "archive_dataset_id" {
  description = "The archive's BigQuery dataset."
  type        = string
  default     = "tagging_archive"
}

variable "archive_retention_days" {
  description = "Days a daily partition of the archive is kept."
  type        = number
  default     = 400

  validation {
    condition     = var.archive_retention_days >= 1 && floor(var.archive_retention_days) == var.archive_retention_days
    error_message = "archive_retention_days must be a whole number of days, at least 1."
  }
}

variable "archive_deletion_protection" {
  description = "Protect the archive table from `terraform destroy` (set false, apply, then destroy to drop it)."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels for every resource that takes them."
  type        = map(string)
  default     = {}
}
