variable "project_id" {
  description = "The project of the vendor's function and subscriptions."
  type        = string
}

variable "region" {
  description = "The function's region."
  type        = string
}

variable "vendor" {
  description = "The vendor's name: its folder functions/vendors/<vendor> and its entry in config/vendors.yaml."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,18}$", var.vendor))
    error_message = "vendor names are lowercase letters, digits and underscores, starting with a letter, at most 19 characters (they name the service account tag-vendor-<vendor>)."
  }
}

variable "runtime" {
  description = "The Cloud Run functions runtime."
  type        = string
  default     = "python312"
}

variable "entry_point" {
  description = "The function in main.py that answers Pub/Sub's push."
  type        = string
  default     = "deliver"
}

variable "source_bucket" {
  description = "The bucket holding the source archive."
  type        = string
}

variable "source_object" {
  description = "The source archive's object name."
  type        = string
}

variable "build_service_account" {
  description = "The service account (projects/<p>/serviceAccounts/<email>) Cloud Build builds the function as."
  type        = string
}

variable "settings" {
  description = "Non-secret settings as environment variables, already named <VENDOR>_<SETTING>."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Names of the vendor's secret settings (e.g. META_ACCESS_TOKEN): one Secret Manager secret each, injected as an environment variable of the same name."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for s in var.secrets : can(regex("^[A-Z][A-Z0-9_]*$", s))])
    error_message = "secret names are environment variable names: uppercase letters, digits and underscores."
  }
}

variable "events" {
  description = "Event names this vendor receives (<VENDOR>_EVENTS; the function checks them again). Empty: every event."
  type        = list(string)
  default     = []
}

variable "filter" {
  description = "The push subscription's attribute filter, e.g. attributes.event_name = \"purchase\" (at most 256 bytes). Empty: every event."
  type        = string
  default     = ""
}

variable "events_topic_id" {
  description = "The events topic the vendor's push subscription reads."
  type        = string
}

variable "dead_letter_topic_id" {
  description = "The dead-letter topic for messages that exhaust their attempts."
  type        = string
}

variable "max_delivery_attempts" {
  description = "Attempts before a message is dead-lettered (5-100); also the function's MAX_DELIVERY_ATTEMPTS."
  type        = number
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100."
  }
}

variable "minimum_backoff_seconds" {
  description = "The retry policy's minimum backoff."
  type        = number
}

variable "maximum_backoff_seconds" {
  description = "The retry policy's maximum backoff (at most 600)."
  type        = number
}

variable "push_service_account" {
  description = "Email of the identity whose OIDC token Pub/Sub attaches to push requests; the only invoker of this function."
  type        = string
}

variable "pubsub_service_agent" {
  description = "Email of the project's Pub/Sub service agent (needs subscriber on these subscriptions to dead-letter)."
  type        = string
}

variable "scaling" {
  description = "Instances, concurrency (THREADS matches it), CPU, memory and timeout (= the push ack deadline)."
  type = object({
    min_instance_count               = number
    max_instance_count               = number
    max_instance_request_concurrency = number
    available_cpu                    = string
    available_memory                 = string
    timeout_seconds                  = number
  })
}

variable "labels" {
  description = "Labels for every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "delivery" {
  description = "push: Pub/Sub pushes each event to the function. batch: the function drains the pull subscription <vendor>-pull when the scheduler calls POST /drain (docs/batch.md)."
  type        = string
  default     = "push"
  validation {
    condition     = contains(["push", "batch"], var.delivery)
    error_message = "delivery is push or batch."
  }
}

variable "batch" {
  description = "Batch mode: messages per pull (1-1000) and how long one drain may pull (seconds, below the function timeout)."
  type = object({
    max_messages  = number
    drain_seconds = number
  })
  default = { max_messages = 1000, drain_seconds = 50 }
}

variable "docker_repository" {
  description = "The Artifact Registry repository (projects/P/locations/L/repositories/R) the build pushes the image to."
  type        = string
}
