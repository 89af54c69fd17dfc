# Provider and Terraform versions. The state backend is left to the operator (local state by default;
# add a backend "s3" block in a backend.tf of your own for shared state).
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x: the Batch attribute names used here (compute_environment_name, compute_environment_order)
      # are the 5.x spellings.
      version = "~> 5.80"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "spotlake", Component = "azure-collector" }, var.tags)
  }
}
