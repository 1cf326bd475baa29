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

variable "rejected_deliveries_threshold" {
  description = "Alert when one vendor rejects more deliveries than this in the alignment period."
  type        = number
  default     = 0
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
