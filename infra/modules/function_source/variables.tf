variable "name" {
  description = "The function's name; the archive is uploaded as <name>-<md5>.zip."
  type        = string
}

variable "function_dir" {
  description = "The function's folder (functions/collect or functions/vendors/<name>); its files land at the archive's root, main.py included."
  type        = string
}

variable "shared_dir" {
  description = "The shared/ package every function imports; it lands in the archive as shared/."
  type        = string
}

variable "requirements_file" {
  description = "The runtime requirements.txt every function ships with."
  type        = string
}

variable "build_dir" {
  description = "A local folder (git-ignored) for the built zip archives."
  type        = string
}

variable "bucket" {
  description = "The Cloud Storage bucket the archive is uploaded to."
  type        = string
}

variable "include_patterns" {
  description = "fileset() patterns of the files packed from the function folder and shared/ (text files only: they are read with file())."
  type        = list(string)
  default     = ["**/*.py", "**/*.json", "**/*.yaml", "**/*.txt", "**/*.csv"]
}
