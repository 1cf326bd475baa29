# collect's billing (var.collect_billing). The google provider's Cloud Run functions resource
# has no CPU-allocation setting, so the function's own Cloud Run service is switched with
# gcloud after each deploy of it: --no-cpu-throttling is instance-based billing (CPU always
# allocated, no per-request fee), --cpu-throttling request-based billing. Re-run whenever
# the function gets a new revision (new source or sizing), which resets the service's flags.

resource "terraform_data" "collect_billing" {
  triggers_replace = [
    var.collect_billing,
    module.collect_source.object,
    jsonencode(var.collect),
    module.collect.function_name,
  ]

  provisioner "local-exec" {
    command = join(" ", [
      "gcloud run services update", module.collect.function_name,
      "--project", var.project_id, "--region", var.region, "--quiet",
      var.collect_billing == "instance" ? "--no-cpu-throttling" : "--cpu-throttling",
    ])
  }

  lifecycle {
    precondition {
      condition     = var.collect_billing == "request" || tonumber(var.collect.available_cpu) >= 1
      error_message = "collect_billing = \"instance\" needs collect.available_cpu of at least 1 (CPU always allocated)."
    }
  }
}
