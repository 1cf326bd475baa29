variable "project_id" {
  description = "The Google Cloud project of the security policy."
  type        = string
}

variable "name" {
  description = "Name of the Cloud Armor security policy."
  type        = string
  default     = "tagging-collect"
}

variable "requests" {
  description = "Requests one IP may send per interval before it is banned."
  type        = number
  default     = 600
  validation {
    condition     = var.requests >= 1
    error_message = "requests must be at least 1."
  }
}

variable "interval_seconds" {
  description = "The rate limit's interval in seconds (Cloud Armor accepts 10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600)."
  type        = number
  default     = 60
  validation {
    condition     = contains([10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600], var.interval_seconds)
    error_message = "interval_seconds must be one of Cloud Armor's intervals: 10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600."
  }
}

variable "ban_duration_seconds" {
  description = "How long an IP over the limit is answered 429."
  type        = number
  default     = 300
}

variable "preview" {
  description = "Log what the rate limit would do without enforcing it."
  type        = bool
  default     = false
}
