variable "project_id" {
  description = "The project whose metrics are watched."
  type        = string
}

variable "vendor_subscriptions" {
  description = "The vendors' push subscriptions, whose dead-lettered messages raise an alert."
  type        = list(string)
}

variable "dead_letter_subscription" {
  description = "The dead-letter inspection subscription, whose backlog raises an alert."
  type        = string
}

variable "alert_email" {
  description = "Email notified of incidents; empty: incidents show in the console only."
  type        = string
  default     = ""
}

variable "rejected_deliveries_per_minute" {
  description = "Alert when one vendor refuses more deliveries than this per minute, averaged over the alignment period."
  type        = number
  default     = 1
}

variable "metric_propagation_wait" {
  description = "Wait between creating the log-based metric and the alert policy that reads it (Monitoring does not know a new metric for minutes)."
  type        = string
  default     = "300s"
}

variable "alignment_period" {
  description = "The window the alert conditions count over."
  type        = string
  default     = "300s"
}

variable "labels" {
  description = "User labels of the alert policies."
  type        = map(string)
  default     = {}
}
