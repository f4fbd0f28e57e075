# IAM roles for service accounts. Least privilege per workload:
#   api      Bedrock invoke (chat + embeddings); read models/ from the lake bucket.
#   airflow  Bedrock invoke (embeddings for the case index); read the lake under var.lake_prefixes, models/ and
#            its task logs; write models/ and its task logs (airflow-logs/, the S3 remote logging of
#            helm/values/airflow.yaml).
#   connect  write raw Parquet under <prefix>/raw/ of var.lake_prefixes only (so never models/ or logs).
#   clickhouse read the pipelines' Parquet (GetObject, ListBucket) under var.lake_prefixes only, for
#            the loader's `INSERT … SELECT … FROM s3(…)` without static keys; decrypt with the lake key.
#   scorer   the stream scorers the operator runs per FraudPipeline: list and read models/ only (the champion
#            pointer and the versions it names), decrypt with the lake key through S3; nothing else. Its trust
#            names each scorer ServiceAccount explicitly (var.service_accounts.scorer, validated against the
#            operator's `<pipeline>-scorer` naming), never a wildcard: a new scoring pipeline needs its pair
#            added and an apply, but no other ServiceAccount in a pipeline namespace can take the role.
#   operator nothing: it only talks to the Kubernetes API and ClickHouse, so it gets no AWS role at all.
# Plus the AWS Load Balancer Controller, which turns the API/UI Ingresses (class alb) into ALBs.

locals {
  bedrock_model_arns = [
    for id in var.bedrock_model_ids : "arn:${local.partition}:bedrock:${var.region}::foundation-model/${id}"
  ]

  lake_bucket_arn = aws_s3_bucket.lake.arn
  models_prefix   = "models/"
  # Task logs of the KubernetesExecutor's pods, which die with each task (helm/values/airflow.yaml).
  airflow_logs_prefix = "airflow-logs/"

}

data "aws_iam_policy_document" "bedrock_invoke" {
  statement {
    sid       = "InvokeListedModels"
    actions   = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
    resources = local.bedrock_model_arns
  }
}

data "aws_iam_policy_document" "lake_kms" {
  statement {
    sid       = "UseLakeKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
}

data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.bedrock_invoke.json, data.aws_iam_policy_document.lake_kms.json]

  statement {
    sid       = "ListModels"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.models_prefix}*"]
    }
  }

  statement {
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake_bucket_arn}/${local.models_prefix}*"]
  }
}

data "aws_iam_policy_document" "airflow" {
  source_policy_documents = [data.aws_iam_policy_document.bedrock_invoke.json, data.aws_iam_policy_document.lake_kms.json]

  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.lake_bucket_arn]
  }

  statement {
    sid     = "ReadLake"
    actions = ["s3:GetObject"]
    resources = concat(
      [for prefix in var.lake_prefixes : "${local.lake_bucket_arn}/${prefix}/*"],
      ["${local.lake_bucket_arn}/${local.models_prefix}*", "${local.lake_bucket_arn}/${local.airflow_logs_prefix}*"],
    )
  }

  statement {
    sid       = "WriteModels"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.lake_bucket_arn}/${local.models_prefix}*"]
  }

  statement {
    sid       = "WriteTaskLogs"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.lake_bucket_arn}/${local.airflow_logs_prefix}*"]
  }
}

data "aws_iam_policy_document" "connect" {
  source_policy_documents = [data.aws_iam_policy_document.lake_kms.json]

  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
    resources = [local.lake_bucket_arn]
  }

  # The sink writes <spec.lake.prefix>/raw/<topic>/… only: one pipeline's sink cannot write outside the lake's
  # prefixes (models/, task logs, another bucket area), whatever a FraudPipeline asks for.
  statement {
    sid       = "WriteRawParquet"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [for prefix in var.lake_prefixes : "${local.lake_bucket_arn}/${prefix}/raw/*"]
  }

  # Belt and braces: even a lake prefix that contained models/ could not reach the model artifacts.
  statement {
    sid       = "NeverModels"
    effect    = "Deny"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.lake_bucket_arn}/${local.models_prefix}*"]
  }
}

# ClickHouse itself reads the lake: s3() fetches the objects the loader names (and lists them for globs).
# Read-only, the pipelines' prefixes only (never models/), and the lake key for decryption through S3 only.
data "aws_iam_policy_document" "clickhouse" {
  statement {
    sid       = "ListPipelinePrefixes"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for prefix in var.lake_prefixes : "${prefix}/*"]
    }
  }

  statement {
    sid       = "ReadPipelineObjects"
    actions   = ["s3:GetObject"]
    resources = [for prefix in var.lake_prefixes : "${local.lake_bucket_arn}/${prefix}/*"]
  }

  statement {
    sid       = "DecryptLakeThroughS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

# The stream scorers (operator/scorer.py: one Deployment per FraudPipeline with spec.scoring.replicas > 0) load
# the champion or a pinned version from the model registry: list and read models/ only, decrypt through S3 only.
# They write nothing to the lake (no lake_kms: it grants GenerateDataKey).
data "aws_iam_policy_document" "scorer" {
  statement {
    sid       = "ListModels"
    actions   = ["s3:ListBucket"]
    resources = [local.lake_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.models_prefix}*"]
    }
  }

  statement {
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${local.lake_bucket_arn}/${local.models_prefix}*"]
  }

  statement {
    sid       = "DecryptLakeThroughS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.data.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

locals {
  irsa_policies = {
    api        = data.aws_iam_policy_document.api.json
    airflow    = data.aws_iam_policy_document.airflow.json
    connect    = data.aws_iam_policy_document.connect.json
    clickhouse = data.aws_iam_policy_document.clickhouse.json
    scorer     = data.aws_iam_policy_document.scorer.json
  }
}

resource "aws_iam_policy" "workload" {
  for_each = local.irsa_policies

  name        = "${local.name}-${each.key}"
  description = "Fraudlake ${each.key}: least-privilege access for its Kubernetes ServiceAccounts"
  policy      = each.value

  tags = local.tags
}

module "workload_irsa" {
  # checkov:skip=CKV_TF_1: a registry source cannot carry a commit hash (only git sources take ?ref=<sha>); the ~> constraint holds the module to one major release, and nothing pins the exact one (.terraform.lock.hcl locks providers, not modules)
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts"
  version = "~> 6.0"

  for_each = local.irsa_policies

  name = "${local.name}-${each.key}"

  oidc_providers = {
    this = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = var.service_accounts[each.key]
    }
  }

  policies = {
    workload = aws_iam_policy.workload[each.key].arn
  }

  tags = local.tags
}

module "load_balancer_controller_irsa" {
  # checkov:skip=CKV_TF_1: a registry source cannot carry a commit hash (only git sources take ?ref=<sha>); the ~> constraint holds the module to one major release, and nothing pins the exact one (.terraform.lock.hcl locks providers, not modules)
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts"
  version = "~> 6.0"

  name                                   = "${local.name}-aws-load-balancer-controller"
  attach_load_balancer_controller_policy = true

  oidc_providers = {
    this = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:aws-load-balancer-controller"]
    }
  }

  tags = local.tags
}
