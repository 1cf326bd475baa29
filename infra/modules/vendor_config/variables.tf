variable "config_file" {
  description = "Path of config/vendors.yaml, the vendor configuration shared with `make run`."
  type        = string
}

variable "vendors_dir" {
  description = "Path of functions/vendors; a vendor exists when <vendors_dir>/<name>/main.py does."
  type        = string
}
