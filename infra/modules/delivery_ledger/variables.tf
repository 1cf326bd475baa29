variable "project_id" {
  description = "The project whose logs are routed, and that holds the dataset."
  type        = string
}

variable "dataset_id" {
  description = "The ledger's BigQuery dataset."
  type        = string
  default     = "tagging_ledger"
}

variable "location" {
  description = "The dataset's location, e.g. EU or US."
  type        = string
  default     = "EU"
}

variable "retention_days" {
  description = "Days a daily partition of the ledger is kept."
  type        = number
  default     = 90
  validation {
    condition     = var.retention_days >= 1
    error_message = "retention_days must be at least 1."
  }
}

variable "sink_name" {
  description = "The log sink's name."
  type        = string
  default     = "tagging-delivery-ledger"
}

variable "labels" {
  description = "Labels of the dataset."
  type        = map(string)
  default     = {}
}

variable "delete_contents_on_destroy" {
  description = "Delete the dataset with its tables on destroy (the table is created by Cloud Logging, not by Terraform)."
  type        = bool
  default     = true
}

variable "exclude_from_default" {
  description = "Exclude the routine delivery lines (delivered, skipped, dry_run) from the _Default log bucket: they are stored in the ledger only."
  type        = bool
  default     = true
}
