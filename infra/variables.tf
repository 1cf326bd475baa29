# The root module's inputs. `make deploy` passes project_id, region and domain; everything
# else has a default that suits a small site. Vendors come from config/vendors.yaml, not from
# variables, so that `make run` and Terraform read the same list.

variable "project_id" {
  description = "The Google Cloud project to deploy into (it must exist and have billing enabled)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 lowercase letters, digits or hyphens), not a project name or number."
  }
}

variable "region" {
  description = "The region for the functions, the serverless NEG and the domain mapping, e.g. europe-west1."
  type        = string
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Cloud Run region such as europe-west1 or us-central1."
  }
}

variable "domain" {
  description = "The tracking subdomain that serves collect, e.g. track.example.com. Empty with domain_mode = \"none\"."
  type        = string
  default     = ""
  validation {
    condition     = var.domain == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", var.domain))
    error_message = "domain must be a lowercase host name such as track.example.com (no scheme, no path)."
  }
}

variable "domain_mode" {
  description = <<-EOT
    How the domain reaches collect: "load_balancer" (global external HTTPS load balancer with a
    serverless NEG and a Google-managed certificate; about $18/month; needed for Cloud Armor),
    "domain_mapping" (Cloud Run domain mapping, free, only in regions that support it) or "none"
    (collect's own URL, or same-origin path routing through the site's own CDN/load balancer).
  EOT
  type        = string
  default     = "load_balancer"
  validation {
    condition     = contains(["load_balancer", "domain_mapping", "none"], var.domain_mode)
    error_message = "domain_mode must be one of load_balancer, domain_mapping, none."
  }
  validation {
    condition     = var.domain_mode == "none" || var.domain != ""
    error_message = "domain_mode load_balancer and domain_mapping need a domain (e.g. track.example.com)."
  }
}

variable "security_policy" {
  description = "Optional Cloud Armor security policy (self link) attached to the load balancer's backend. Only with domain_mode = \"load_balancer\"."
  type        = string
  default     = null
}

variable "vendors_config_file" {
  description = "The vendor configuration shared with `make run`. Defaults to config/vendors.yaml in this repository."
  type        = string
  default     = null
}

variable "source_root" {
  description = "The repository root holding functions/, shared/ and requirements.txt. Defaults to the parent of this module."
  type        = string
  default     = null
}

variable "allowed_measurement_ids" {
  description = "GA4 measurement IDs collect accepts (ALLOWED_MEASUREMENT_IDS), e.g. [\"G-XXXXXXX\"]. Empty accepts any."
  type        = list(string)
  default     = []
}

variable "allowed_origins" {
  description = "Page origins allowed to send hits with credentials (ALLOWED_ORIGINS), e.g. [\"https://www.example.com\"]."
  type        = list(string)
  default     = []
}

variable "cookie_domain" {
  description = "Domain attribute of the cookies collect sets (COOKIE_DOMAIN): \"\" or \"auto\" = the registrable domain (eTLD+1) of the request's host, \"host\" = host-only, or a domain such as example.com."
  type        = string
  default     = ""
  validation {
    condition     = contains(["", "auto", "host"], var.cookie_domain) || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,}$", var.cookie_domain))
    error_message = "cookie_domain must be \"\", \"auto\", \"host\" or a lowercase domain such as example.com (no scheme, no path)."
  }
}

variable "cookie_max_age_days" {
  description = "Lifetime of the FPID client-id cookie in days (COOKIE_MAX_AGE_DAYS); browsers cap cookies at 400."
  type        = number
  default     = 395
  validation {
    condition     = var.cookie_max_age_days >= 1 && var.cookie_max_age_days <= 400 && floor(var.cookie_max_age_days) == var.cookie_max_age_days
    error_message = "cookie_max_age_days must be a whole number of days from 1 to 400 (browsers cap cookies at 400 days)."
  }
}

variable "server_cookies" {
  description = "Vendor identifier cookies collect sets itself (SERVER_COOKIES, docs/first-party.md): [\"all\"] or families among meta, google_ads, tiktok, snapchat, pinterest, reddit, linkedin, microsoft. Empty: none."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for f in var.server_cookies : contains(["all", "meta", "google_ads", "tiktok", "snapchat", "pinterest", "reddit", "linkedin", "microsoft"], lower(trimspace(f)))])
    error_message = "server_cookies entries must be all, meta, google_ads, tiktok, snapchat, pinterest, reddit, linkedin or microsoft."
  }
}

variable "allowed_tag_ids" {
  description = "Google tag ids collect serves scripts for on /gtag/js, /gtm.js, /gtag/destination and /ns.html (ALLOWED_TAG_IDS, docs/first-party.md), e.g. [\"G-XXXXXXXXXX\", \"GTM-XXXXXXX\"]. Empty: no script is served."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for id in var.allowed_tag_ids : can(regex("^(GTM|G|GT|AW|DC)-[A-Z0-9]{4,}$", id))])
    error_message = "allowed_tag_ids entries must be Google tag ids such as G-XXXXXXXXXX, GT-XXXXXXX, GTM-XXXXXXX, AW-123456789 or DC-XXXXXXX (upper case)."
  }
}

variable "tag_aliases" {
  description = "Alias paths that serve one tag's script (TAG_ALIASES), path => tag id, e.g. { \"/k7x2q9\" = \"GTM-ABCD12\" }: / and 6-10 letters or digits, without gtm, gtag, google, analytics or collect."
  type        = map(string)
  default     = {}
  validation {
    condition = alltrue([
      for path, id in var.tag_aliases :
      can(regex("^/[A-Za-z0-9]{6,10}$", path)) && !can(regex("(?i)gtm|gtag|google|analytics|collect", path)) && can(regex("^(GTM|G|GT|AW|DC)-[A-Z0-9]{4,}$", id))
    ])
    error_message = "tag_aliases keys must be / and 6-10 letters or digits (no gtm, gtag, google, analytics, collect) and values tag ids such as GTM-XXXXXXX."
  }
}

variable "script_gateway_path" {
  description = "Google tag gateway path (SCRIPT_GATEWAY_PATH, docs/first-party.md \"Gateway mode\"), e.g. \"/metrics\": everything under it is proxied to <tag id>.fps.goog, except /<path>/g/collect hits, which collect ingests. / and 6-10 letters or digits, without gtm, gtag, google, analytics or collect. Empty: no gateway."
  type        = string
  default     = ""
  validation {
    condition     = var.script_gateway_path == "" || (can(regex("^/[A-Za-z0-9]{6,10}$", var.script_gateway_path)) && !can(regex("(?i)gtm|gtag|google|analytics|collect", var.script_gateway_path)))
    error_message = "script_gateway_path must be / and 6-10 letters or digits, without gtm, gtag, google, analytics or collect (e.g. /metrics)."
  }
}

variable "script_gateway_tag_id" {
  description = "The Google tag id the gateway path serves (SCRIPT_GATEWAY_TAG_ID): the upstream is https://<id>.fps.goog. Required with script_gateway_path."
  type        = string
  default     = ""
  validation {
    condition     = var.script_gateway_tag_id == "" || can(regex("^(GTM|G|GT|AW|DC)-[A-Z0-9]{4,}$", var.script_gateway_tag_id))
    error_message = "script_gateway_tag_id must be a Google tag id such as G-XXXXXXXXXX or GTM-XXXXXXX (upper case)."
  }
}

variable "script_gateway_placeholder" {
  description = "The placeholder measurement path Google's gateway responses carry (SCRIPT_GATEWAY_PLACEHOLDER), rewritten to script_gateway_path in JavaScript bodies and redirects."
  type        = string
  default     = "PHP_GTG_REPLACE_PATH"
  validation {
    condition     = can(regex("^[A-Za-z0-9_]{4,64}$", var.script_gateway_placeholder))
    error_message = "script_gateway_placeholder must be 4-64 letters, digits or _."
  }
}

variable "geo_headers_on_hits" {
  description = "With domain_mode = load_balancer: also add the geo headers on collect's hits (they fill event location for vendors, docs/privacy.md \"Geo\"). Custom request headers are billed per request; false keeps them on the Google tag routes only."
  type        = bool
  default     = true
}

variable "tag_upstream_origin" {
  description = "Where collect fetches the Google tag scripts from (TAG_UPSTREAM_ORIGIN): an origin, never taken from a request."
  type        = string
  default     = "https://www.googletagmanager.com"
  validation {
    condition     = can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", var.tag_upstream_origin))
    error_message = "tag_upstream_origin must be an origin such as https://www.googletagmanager.com (scheme and host, no path)."
  }
}

variable "tag_server_container_url" {
  description = "When set, collect prefixes gtag.js with a one-line loader that sends the tag's hits to this URL (TAG_SERVER_CONTAINER_URL), e.g. https://track.example.com. Empty: no loader."
  type        = string
  default     = ""
  validation {
    condition     = var.tag_server_container_url == "" || can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$", var.tag_server_container_url))
    error_message = "tag_server_container_url must be empty or an http(s) URL without query, e.g. https://track.example.com or https://www.example.com/metrics."
  }
}

variable "tag_cache_seconds" {
  description = "How long each collect instance caches a served script (TAG_CACHE_SECONDS), 1-900."
  type        = number
  default     = 900
  validation {
    condition     = var.tag_cache_seconds >= 1 && var.tag_cache_seconds <= 900 && floor(var.tag_cache_seconds) == var.tag_cache_seconds
    error_message = "tag_cache_seconds must be a whole number from 1 to 900."
  }
}

variable "tag_stale_seconds" {
  description = "How old a cached script may be and still be served while the upstream fails (TAG_STALE_SECONDS), 0-86400."
  type        = number
  default     = 86400
  validation {
    condition     = var.tag_stale_seconds >= 0 && var.tag_stale_seconds <= 86400 && floor(var.tag_stale_seconds) == var.tag_stale_seconds
    error_message = "tag_stale_seconds must be a whole number from 0 to 86400."
  }
}

variable "collect_max_events" {
  description = "Events one request to collect may publish (COLLECT_MAX_EVENTS); gtag lines past it are refused and counted."
  type        = number
  default     = 25
  validation {
    condition     = var.collect_max_events >= 1 && floor(var.collect_max_events) == var.collect_max_events
    error_message = "collect_max_events must be a whole number, at least 1."
  }
}

variable "collect_body_read_seconds" {
  description = "Deadline for reading a request's body (BODY_READ_SECONDS); slower clients get 408. Must stay below collect.timeout_seconds."
  type        = number
  default     = 5
  validation {
    condition     = var.collect_body_read_seconds > 0
    error_message = "collect_body_read_seconds must be more than 0."
  }
}

variable "collect_publishing" {
  description = "collect's publishing to Pub/Sub (shared/publishing.py): timeout_seconds is the wait for acknowledgement before a hit is answered 503 (PUBLISH_TIMEOUT_SECONDS), max_in_flight the concurrent Publish calls per instance (PUBLISH_MAX_IN_FLIGHT)."
  type = object({
    timeout_seconds = optional(number, 5)
    max_in_flight   = optional(number, 2)
  })
  default = {}
  validation {
    condition     = var.collect_publishing.timeout_seconds > 0 && var.collect_publishing.max_in_flight >= 1 && floor(var.collect_publishing.max_in_flight) == var.collect_publishing.max_in_flight
    error_message = "collect_publishing.timeout_seconds must be more than 0 and max_in_flight a whole number, at least 1."
  }
}

variable "collect" {
  description = "Sizing of the collect function. THREADS is set to max_instance_request_concurrency."
  type = object({
    min_instance_count               = optional(number, 0)
    max_instance_count               = optional(number, 20)
    max_instance_request_concurrency = optional(number, 80)
    available_cpu                    = optional(string, "1")
    available_memory                 = optional(string, "512Mi")
    timeout_seconds                  = optional(number, 30)
  })
  default = {}
  validation {
    condition     = var.collect.min_instance_count >= 0 && var.collect.min_instance_count <= var.collect.max_instance_count
    error_message = "collect.min_instance_count must be between 0 and max_instance_count."
  }
  validation {
    condition     = var.collect.max_instance_request_concurrency >= 1 && var.collect.max_instance_request_concurrency <= 1000
    error_message = "collect.max_instance_request_concurrency must be between 1 and 1000 (concurrency above 1 needs at least 1 vCPU)."
  }
}

variable "vendor_functions" {
  description = <<-EOT
    Sizing of every vendor function. timeout_seconds is also each push subscription's ack
    deadline, so it must stay above the vendor HTTP timeout (10 s, shared/delivery).
  EOT
  type = object({
    min_instance_count               = optional(number, 0)
    max_instance_count               = optional(number, 10)
    max_instance_request_concurrency = optional(number, 16)
    available_cpu                    = optional(string, "1")
    available_memory                 = optional(string, "512Mi")
    timeout_seconds                  = optional(number, 60)
  })
  default = {}
  validation {
    condition     = var.vendor_functions.timeout_seconds >= 20 && var.vendor_functions.timeout_seconds <= 600
    error_message = "vendor_functions.timeout_seconds must be 20-600: it is the push ack deadline and must exceed the vendor HTTP timeout (10 s)."
  }
}

variable "provisioned_secrets" {
  description = <<-EOT
    Secret IDs that already hold an enabled version (`make deploy` fills this in from
    `gcloud secrets versions list`, and stops if it cannot). collect and the vendor functions
    read their secrets at runtime from Secret Manager and do not need this: the list only
    labels the `secrets` output.
  EOT
  type        = set(string)
  default     = []
}

variable "enable_event_archive" {
  description = "Archive every published event in BigQuery through a Pub/Sub BigQuery subscription (docs/ledger.md, \"The event archive\")."
  type        = bool
  default     = true
}

variable "archive_deletion_protection" {
  description = "Protect the raw event archive table from `make destroy` (set false and deploy before destroying it)."
  type        = bool
  default     = true
}

variable "enable_delivery_ledger" {
  description = "Route the vendor functions' \"delivery\" log lines to a partitioned BigQuery dataset (docs/ledger.md)."
  type        = bool
  default     = true
}

variable "bigquery_location" {
  description = "Location of the BigQuery datasets (event archive, delivery ledger), e.g. EU or US."
  type        = string
  default     = "EU"
}

variable "archive_retention_days" {
  description = "Days a daily partition of the event archive is kept (then BigQuery deletes it)."
  type        = number
  default     = 400

  validation {
    condition     = var.archive_retention_days >= 1 && floor(var.archive_retention_days) == var.archive_retention_days
    error_message = "archive_retention_days must be a whole number of days, at least 1."
  }
}

variable "ledger_retention_days" {
  description = "Days a partition of the delivery ledger is kept."
  type        = number
  default     = 90
}

variable "alert_email" {
  description = "Email address for alerts (dead letters, rejected deliveries). Empty: alerts open incidents in the console only."
  type        = string
  default     = ""
}

variable "rejected_deliveries_per_minute" {
  description = "Alert when a vendor answers 4xx (or a delivery is vendor_misconfigured) more than this many times per minute, averaged over 5 minutes."
  type        = number
  default     = 1
  validation {
    condition     = var.rejected_deliveries_per_minute >= 0
    error_message = "rejected_deliveries_per_minute must be 0 or more."
  }
}

variable "ledger_delete_contents_on_destroy" {
  description = "Let `make destroy` delete the ledger dataset with its tables (Cloud Logging creates them, so Terraform does not know them). false keeps the ledger and makes destroy fail on it."
  type        = bool
  default     = true
}

variable "ledger_exclude_from_default_bucket" {
  description = "Keep the routine delivery lines (delivered, skipped, dry_run) only in the BigQuery ledger, not also in the _Default log bucket. Rejections, retries and dead letters stay in both."
  type        = bool
  default     = true
}

variable "scope_build_storage" {
  description = "Limit the build account's storage rights (roles/run.builder) to the function buckets with an IAM condition. false grants them project-wide (if a build ever fails with a storage permission error)."
  type        = bool
  default     = true
}

variable "images_kept_per_function" {
  description = "Artifact Registry cleanup policy: the newest image versions kept per function; older ones are deleted after 7 days."
  type        = number
  default     = 5
}

variable "api_propagation_wait" {
  description = "How long Terraform waits after enabling an API before using it (only when the set of APIs changes)."
  type        = string
  default     = "60s"
}

variable "iam_propagation_wait" {
  description = "How long Terraform waits after the build and push-token grants before the builds start (only when a grant changes)."
  type        = string
  default     = "90s"
}

variable "metric_propagation_wait" {
  description = "How long Terraform waits after creating the log-based metric before the alert policy that reads it (only when the metric is created)."
  type        = string
  default     = "300s"
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}
}

variable "collect_billing" {
  description = <<-EOT
    How Cloud Run bills collect. "request" (default): CPU only while requests run, plus
    $0.40 per million requests; $0 when idle. "instance": CPU always allocated, no
    per-request fee, the instances' whole lifetime billed (about $50 a month for one
    instance): cheaper above roughly 120 M hits a month (`make bench-delivery` prints the
    crossover for your CPU per hit; docs/cost.md).
  EOT
  type        = string
  default     = "request"
  validation {
    condition     = contains(["request", "instance"], var.collect_billing)
    error_message = "collect_billing is request or instance."
  }
}

variable "cloud_armor" {
  description = <<-EOT
    Cloud Armor rate limit on collect's load-balancer backend (domain_mode = "load_balancer";
    ignored when security_policy names a policy of your own): an IP sending more than
    `requests` in `interval_seconds` is answered 429 for `ban_duration_seconds`. preview = true
    logs what the rule would do without enforcing it.
  EOT
  type = object({
    enabled              = optional(bool, true)
    requests             = optional(number, 600)
    interval_seconds     = optional(number, 60)
    ban_duration_seconds = optional(number, 300)
    preview              = optional(bool, false)
  })
  default = {}
}

variable "trusted_proxy_hops" {
  description = "X-Forwarded-For entries our own proxies append after the visitor's (collect's TRUSTED_PROXY_HOPS). Null: \"1\" with domain_mode = \"load_balancer\", \"none\" otherwise; set it when your own CDN or load balancer routes a path of the site to collect."
  type        = string
  default     = null
}

variable "exclude_collect_request_log" {
  description = "Exclude collect's Cloud Run request log (full URLs: hit data and Measurement Protocol api secrets) from Cloud Logging's _Default bucket."
  type        = bool
  default     = true
}

variable "cookie_keeper" {
  description = "Cookie keeper (docs/first-party.md \"Cookie keeper\"): mode off (default), restore_only or keep; cookies: a subset of the default list (empty: all of _ga, _ga_*, _gcl_aw, _gcl_au, _fbp, _fbc, _ttp, _scid, _epik); ttl_days: how long a record outlives its last write (Firestore TTL, max 400); timeout_ms: the bound on each store call per hit. On: a Firestore database, a TTL policy and a salt secret are created."
  type = object({
    mode       = optional(string, "off")
    cookies    = optional(list(string), [])
    ttl_days   = optional(number, 400)
    timeout_ms = optional(number, 300)
  })
  default = {}
  validation {
    condition     = contains(["off", "restore_only", "keep"], var.cookie_keeper.mode)
    error_message = "cookie_keeper.mode must be off, restore_only or keep."
  }
  validation {
    condition     = alltrue([for c in var.cookie_keeper.cookies : contains(["_ga", "_ga_*", "_gcl_aw", "_gcl_au", "_fbp", "_fbc", "_ttp", "_scid", "_epik"], c)])
    error_message = "cookie_keeper.cookies entries must be among _ga, _ga_*, _gcl_aw, _gcl_au, _fbp, _fbc, _ttp, _scid, _epik."
  }
  validation {
    condition     = var.cookie_keeper.ttl_days >= 1 && var.cookie_keeper.ttl_days <= 400 && var.cookie_keeper.timeout_ms >= 1 && var.cookie_keeper.timeout_ms <= 5000
    error_message = "cookie_keeper.ttl_days must be 1..400 and cookie_keeper.timeout_ms 1..5000."
  }
}
