variable "project_id" {
  description = "The project of the vendor function and the scheduler job."
  type        = string
}

variable "region" {
  description = "The vendor function's region, also the scheduler job's."
  type        = string
}

variable "vendor" {
  description = "The vendor's name (names the job drain-<vendor> and its identity tag-drain-<vendor>)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,18}$", var.vendor))
    error_message = "vendor names are lowercase letters, digits and underscores, starting with a letter, at most 19 characters."
  }
}

variable "function_name" {
  description = "The vendor function (its Cloud Run service) the job may invoke."
  type        = string
}

variable "function_uri" {
  description = "The vendor function's URL; the job calls <uri>/drain with this audience."
  type        = string
}

variable "schedule" {
  description = "Cron schedule in UTC (delivery.batch.cloud.schedule); every minute by default."
  type        = string
  default     = "* * * * *"
}

variable "drain_seconds" {
  description = "How long one drain pulls (delivery.batch.cloud.drain_seconds)."
  type        = number
  default     = 50
  validation {
    condition     = var.drain_seconds >= 15 && var.drain_seconds <= 1770
    error_message = "drain_seconds must be 15-1770 (Cloud Scheduler waits at most 30 minutes for an HTTP target)."
  }
}
