variable "project_id" {
  description = "The project of the function."
  type        = string
}

variable "region" {
  description = "The function's region."
  type        = string
}

variable "name" {
  description = "The function's (and its Cloud Run service's) name."
  type        = string
  default     = "collect"
}

variable "runtime" {
  description = "The Cloud Run functions runtime."
  type        = string
  default     = "python312"
}

variable "entry_point" {
  description = "The function in main.py that serves requests."
  type        = string
  default     = "collect"
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

variable "events_topic_id" {
  description = "The events topic's ID; collect may publish to it and to nothing else."
  type        = string
}

variable "events_topic_name" {
  description = "The events topic's short name (EVENTS_TOPIC)."
  type        = string
}

variable "allowed_measurement_ids" {
  description = "ALLOWED_MEASUREMENT_IDS: GA4 measurement IDs collect accepts."
  type        = list(string)
  default     = []
}

variable "allowed_origins" {
  description = "ALLOWED_ORIGINS: page origins allowed to send hits with credentials."
  type        = list(string)
  default     = []
}

variable "cookie_domain" {
  description = "COOKIE_DOMAIN: the Domain attribute of the cookies collect sets (\"\"/auto, host, or a domain)."
  type        = string
  default     = ""
}

variable "cookie_max_age_days" {
  description = "COOKIE_MAX_AGE_DAYS: lifetime of the FPID client-id cookie."
  type        = number
  default     = 395
}

variable "server_cookies" {
  description = "SERVER_COOKIES: vendor identifier cookie families collect sets itself (\"all\" or family names)."
  type        = list(string)
  default     = []
}

variable "allowed_tag_ids" {
  description = "ALLOWED_TAG_IDS: Google tag ids collect serves scripts for."
  type        = list(string)
  default     = []
}

variable "tag_aliases" {
  description = "TAG_ALIASES: alias path => tag id."
  type        = map(string)
  default     = {}
}

variable "script_gateway_path" {
  description = "SCRIPT_GATEWAY_PATH: Google tag gateway path; empty: no gateway."
  type        = string
  default     = ""
}

variable "script_gateway_tag_id" {
  description = "SCRIPT_GATEWAY_TAG_ID: the tag id whose <id>.fps.goog the gateway path proxies to."
  type        = string
  default     = ""
}

variable "script_gateway_placeholder" {
  description = "SCRIPT_GATEWAY_PLACEHOLDER: the placeholder path rewritten in gateway JavaScript and redirects."
  type        = string
  default     = "PHP_GTG_REPLACE_PATH"
}

variable "tag_upstream_origin" {
  description = "TAG_UPSTREAM_ORIGIN: the origin scripts are fetched from."
  type        = string
  default     = "https://www.googletagmanager.com"
}

variable "tag_server_container_url" {
  description = "TAG_SERVER_CONTAINER_URL: prefix gtag.js with a loader sending hits here; empty: no loader."
  type        = string
  default     = ""
}

variable "tag_cache_seconds" {
  description = "TAG_CACHE_SECONDS: per-instance script cache TTL."
  type        = number
  default     = 900
}

variable "tag_stale_seconds" {
  description = "TAG_STALE_SECONDS: how old a cached script may be served while the upstream fails."
  type        = number
  default     = 86400
}

variable "max_events" {
  description = "COLLECT_MAX_EVENTS: events one request may publish."
  type        = number
  default     = 25
}

variable "body_read_seconds" {
  description = "BODY_READ_SECONDS: deadline for reading a request's body."
  type        = number
  default     = 5
}

variable "publishing" {
  description = "PUBLISH_TIMEOUT_SECONDS (timeout_seconds) and PUBLISH_MAX_IN_FLIGHT (max_in_flight)."
  type = object({
    timeout_seconds = number
    max_in_flight   = number
  })
  default = {
    timeout_seconds = 5
    max_in_flight   = 2
  }
}

variable "secret_names" {
  description = "Secret settings of collect: Secret Manager secret IDs, read at runtime (shared/collect_secrets.py) through SECRET_<ID> references."
  type        = list(string)
  default     = ["MP_API_SECRETS", "DEBUG_TOKEN", "MP_SIGNING_SECRETS"]
}

variable "ingress_settings" {
  description = "ALLOW_ALL (public), or ALLOW_INTERNAL_AND_GCLB when the load balancer is the only way in."
  type        = string
  default     = "ALLOW_ALL"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB"], var.ingress_settings)
    error_message = "collect must be reachable from browsers: ALLOW_ALL or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "scaling" {
  description = "Instances, concurrency (THREADS matches it), CPU, memory and timeout."
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

variable "docker_repository" {
  description = "The Artifact Registry repository (projects/P/locations/L/repositories/R) the build pushes the image to."
  type        = string
}

variable "ip_truncation" {
  description = "IP_TRUNCATION: collect truncates every IP before publishing (config/vendors.yaml privacy.ip_truncation): \"\" (none), standard or strict."
  type        = string
  default     = ""
  validation {
    condition     = contains(["", "standard", "strict"], var.ip_truncation)
    error_message = "ip_truncation must be \"\", \"standard\" or \"strict\"."
  }
}

variable "trusted_proxy_hops" {
  description = "TRUSTED_PROXY_HOPS: X-Forwarded-For entries appended after the visitor's by our own proxies. \"1\" behind the load balancer, \"none\" behind Cloud Run's own front end."
  type        = string
  default     = "1"
  validation {
    condition     = can(regex("^(none|[0-8])$", var.trusted_proxy_hops))
    error_message = "trusted_proxy_hops must be \"none\" or a number from 0 to 8."
  }
}

variable "edge_auth_secret_id" {
  description = "Secret Manager secret (ID or full name) holding the load balancer's X-Edge-Auth value, read at runtime as EDGE_AUTH_SECRETS. Null: geo headers are never trusted."
  type        = string
  default     = null
}

variable "exclude_request_log" {
  description = "Exclude collect's Cloud Run request log (full URLs: hit data and MP api secrets) from the _Default log bucket."
  type        = bool
  default     = true
}

variable "cookie_keeper" {
  description = "COOKIE_KEEPER (mode: off, restore_only or keep), COOKIE_KEEPER_COOKIES, COOKIE_KEEPER_TTL_DAYS and COOKIE_KEEPER_TIMEOUT_MS (docs/first-party.md \"Cookie keeper\")."
  type = object({
    mode       = string
    cookies    = list(string)
    ttl_days   = number
    timeout_ms = number
  })
  default = {
    mode       = "off"
    cookies    = []
    ttl_days   = 400
    timeout_ms = 300
  }
}

variable "cookie_keeper_database" {
  description = "COOKIE_KEEPER_DATABASE: the keeper's Firestore database ID."
  type        = string
  default     = "(default)"
}

variable "cookie_keeper_collection" {
  description = "COOKIE_KEEPER_COLLECTION: the Firestore collection of the keeper's records."
  type        = string
  default     = "cookie_keeper"
}

variable "cookie_keeper_salt_secret_id" {
  description = "Secret Manager secret (ID or full name) holding COOKIE_KEEPER_SALT, read at runtime. Null: the keeper is off."
  type        = string
  default     = null
}
