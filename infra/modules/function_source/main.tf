/**
 * A function's source archive: its folder + shared/ + requirements.txt, zipped from the
 * repository's files (no staging folder, no local-exec) and uploaded under a name that carries
 * the content hash, so a code change redeploys the function and nothing else does.
 */

locals {
  function_files = toset(flatten([for p in var.include_patterns : tolist(fileset(var.function_dir, p))]))
  shared_files   = toset(flatten([for p in var.include_patterns : tolist(fileset(var.shared_dir, p))]))

  # archive path => file on disk. Tests of a vendor folder are not shipped.
  files = merge(
    { for f in local.function_files : f => "${var.function_dir}/${f}" if !startswith(f, "tests/") },
    { for f in local.shared_files : "shared/${f}" => "${var.shared_dir}/${f}" },
    { "requirements.txt" = var.requirements_file },
  )
}

data "archive_file" "this" {
  type        = "zip"
  output_path = "${var.build_dir}/${var.name}.zip"

  dynamic "source" {
    for_each = local.files
    content {
      content  = file(source.value)
      filename = source.key
    }
  }
}

resource "google_storage_bucket_object" "this" {
  name         = "${var.name}-${data.archive_file.this.output_md5}.zip"
  bucket       = var.bucket
  source       = data.archive_file.this.output_path
  content_type = "application/zip"
}
