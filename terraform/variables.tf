variable "region" {
  description = "AWS region of the cluster, the buckets and Bedrock."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name prefix of every resource (cluster, buckets, roles, repositories)."
  type        = string
  default     = "fraudlake"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}[a-z0-9]$", var.name))
    error_message = "name must be 3-22 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Deployment stage; part of names and tags."
  type        = string
  default     = "prod"

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes <major>.<minor> version."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; split into one private and one public subnet per availability zone."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr must be a valid IPv4 CIDR of /20 or larger."
  }
}

variable "availability_zone_count" {
  description = "Number of availability zones to spread subnets and nodes over (3 keeps Kafka's quorum across a zone loss)."
  type        = number
  default     = 3

  validation {
    condition     = var.availability_zone_count >= 2 && var.availability_zone_count <= 4
    error_message = "availability_zone_count must be between 2 and 4."
  }
}

variable "single_nat_gateway" {
  description = "Use one NAT gateway for all zones (cheaper) instead of one per zone (zone-failure tolerant)."
  type        = bool
  default     = false
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint (e.g. the office or VPN egress). Empty disables the public endpoint."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.endpoint_public_access_cidrs : can(cidrnetmask(cidr)) && cidr != "0.0.0.0/0"])
    error_message = "endpoint_public_access_cidrs must be valid CIDRs, and 0.0.0.0/0 is not allowed."
  }
}

variable "system_node_group" {
  description = "Managed node group for the platform's stateless pods (API, UI, operator, Airflow scheduler)."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
  })
  default = {
    instance_types = ["m6i.large"]
    min_size       = 2
    max_size       = 6
    desired_size   = 3
  }

  validation {
    condition     = var.system_node_group.min_size <= var.system_node_group.desired_size && var.system_node_group.desired_size <= var.system_node_group.max_size
    error_message = "system_node_group must satisfy min_size <= desired_size <= max_size."
  }
}

variable "data_node_group" {
  description = "Managed node group for stateful, memory-heavy pods (Kafka, ClickHouse, training tasks); tainted workload=data."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
  })
  default = {
    instance_types = ["r6i.xlarge"]
    min_size       = 3
    max_size       = 6
    desired_size   = 3
  }

  validation {
    condition     = var.data_node_group.min_size <= var.data_node_group.desired_size && var.data_node_group.desired_size <= var.data_node_group.max_size
    error_message = "data_node_group must satisfy min_size <= desired_size <= max_size."
  }
}

variable "service_accounts" {
  description = "Kubernetes ServiceAccounts (namespace:name) each IRSA role trusts, as the charts create them: api = release fraudlake-api in namespace fraudlake; airflow = upstream chart release airflow; connect = Strimzi's <KafkaConnect>-connect in namespace kafka; clickhouse = release fraudlake-clickhouse in namespace clickhouse (optional in older tfvars: defaults to that); scorer = <namespace>:<pipeline>-scorer for every FraudPipeline with spec.scoring.replicas > 0 (the operator names each pipeline's scorer ServiceAccount so, in the pipeline's namespace), listed one by one: no wildcards, so add a pipeline's pair and apply before it scores (optional in older tfvars: defaults to fraud:demo-scorer, operator/examples/pipeline-eks.yaml)."
  type = object({
    api        = list(string)
    airflow    = list(string)
    connect    = list(string)
    clickhouse = optional(list(string), ["clickhouse:fraudlake-clickhouse"])
    scorer     = optional(list(string), ["fraud:demo-scorer"])
  })
  default = {
    api        = ["fraudlake:fraudlake-api"]
    airflow    = ["fraudlake:airflow-scheduler", "fraudlake:airflow-worker", "fraudlake:airflow-triggerer", "fraudlake:airflow-dag-processor"]
    connect    = ["kafka:fraudlake-connect-connect"]
    clickhouse = ["clickhouse:fraudlake-clickhouse"]
    scorer     = ["fraud:demo-scorer"]
  }

  validation {
    condition     = alltrue([for sa in flatten(values(var.service_accounts)) : can(regex("^[a-z0-9-]+:[a-z0-9.-]+$", sa))])
    error_message = "service_accounts entries must look like namespace:serviceaccount."
  }

  validation {
    condition = length(var.service_accounts.scorer) > 0 && alltrue([
      for sa in var.service_accounts.scorer : (
        can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9]*[a-z0-9])?-scorer$", sa)) &&
        length(split(":", sa)[0]) <= 63 &&
        length(sa) - length(split(":", sa)[0]) - 1 <= 47
      )
    ])
    error_message = "service_accounts.scorer must list at least one <namespace>:<pipeline>-scorer (a FraudPipeline's namespace and its name of at most 40 characters, as the operator names the scorer's ServiceAccount), without wildcards."
  }
}

variable "bedrock_model_ids" {
  description = "Bedrock foundation models the API and Airflow may invoke (chat via Converse, embeddings)."
  type        = list(string)
  default = [
    "anthropic.claude-3-5-haiku-20241022-v1:0",
    "amazon.titan-embed-text-v2:0",
  ]

  validation {
    condition     = length(var.bedrock_model_ids) > 0 && alltrue([for id in var.bedrock_model_ids : can(regex("^[a-z0-9-]+\\.[A-Za-z0-9.:-]+$", id))])
    error_message = "bedrock_model_ids must be non-empty Bedrock model ids such as amazon.titan-embed-text-v2:0."
  }
}

variable "lake_prefixes" {
  description = "Key prefixes of the lake bucket the FraudPipelines keep their data under: their spec.lake.prefix values or parents of them, without leading or trailing '/'. Kafka Connect may write only <prefix>/raw/ objects under them, ClickHouse (s3()) and Airflow may read only under them (and models/). Defaults: fraudlake (the CRD's default prefix) and pipelines (operator/examples/pipeline-eks.yaml writes under pipelines/demo). models/ is never a lake prefix."
  type        = list(string)
  default     = ["fraudlake", "pipelines"]

  validation {
    condition = length(var.lake_prefixes) > 0 && alltrue([
      for prefix in var.lake_prefixes : (
        can(regex("^[A-Za-z0-9!_.'()-]+(/[A-Za-z0-9!_.'()-]+)*$", prefix)) &&
        length(regexall("(^|/)[.]+(/|$)", prefix)) == 0 &&
        prefix != "models" && !startswith(prefix, "models/")
      )
    ])
    error_message = "lake_prefixes must be non-empty key prefixes without leading or trailing '/', wildcards (* ?) or '.'/'..' segments, and never models (the model artifacts)."
  }
}

variable "lake_noncurrent_version_days" {
  description = "Days to keep non-current object versions in the lake bucket (replays overwrite objects)."
  type        = number
  default     = 30

  validation {
    condition     = var.lake_noncurrent_version_days >= 1
    error_message = "lake_noncurrent_version_days must be at least 1."
  }
}

variable "access_log_retention_days" {
  description = "Days to keep S3 server access logs."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_retention_days >= 30
    error_message = "access_log_retention_days must be at least 30."
  }
}

variable "ecr_repositories" {
  description = "ECR repositories, one per Dockerfile.* image (Dockerfile.kafka_connect: kafka-connect)."
  type        = list(string)
  default     = ["api", "ui", "airflow", "operator", "scorer", "kafka-connect"]

  validation {
    condition     = alltrue([for repo in var.ecr_repositories : can(regex("^[a-z0-9][a-z0-9-]*$", repo))])
    error_message = "ecr_repositories must be lowercase names."
  }
}

variable "ecr_keep_images" {
  description = "Number of most recent images each ECR repository keeps."
  type        = number
  default     = 50

  validation {
    condition     = var.ecr_keep_images >= 5
    error_message = "ecr_keep_images must be at least 5."
  }
}

variable "tags" {
  description = "Extra tags for every resource (merged over the standard ones)."
  type        = map(string)
  default     = {}
}
