# Fraudlake production footprint on AWS: VPC, EKS with managed node groups, the EBS CSI driver and a gp3
# StorageClass. IRSA roles are in irsa.tf, buckets/repositories/keys in storage.tf.

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394: only the first availability_zone_count names (sorted) are used, slice below; a new zone takes the next letter and sorts after them, so it adds no subnet
  state = "available"

  # Local Zones and Wavelength zones cannot host EKS managed nodes.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name = "${var.name}-${var.environment}"

  azs             = slice(data.aws_availability_zones.available.names, 0, var.availability_zone_count)
  private_subnets = [for index, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, index)]
  public_subnets  = [for index, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 48 + index)]

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  tags = merge(
    {
      Project     = var.name
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = "fraudlake"
    },
    var.tags,
  )
}

################################################################################
# Network
################################################################################

module "vpc" {
  # checkov:skip=CKV_TF_1: a registry source cannot carry a commit hash (only git sources take ?ref=<sha>); the ~> constraint holds the module to one major release, and nothing pins the exact one (.terraform.lock.hcl locks providers, not modules)
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 6.0"

  name = local.name
  cidr = var.vpc_cidr

  azs             = local.azs
  private_subnets = local.private_subnets
  public_subnets  = local.public_subnets

  enable_nat_gateway = true
  single_nat_gateway = var.single_nat_gateway

  # Flow logs for incident response: who talked to the brokers, the database, the buckets.
  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_cloudwatch_log_group_retention_in_days = 365

  # Subnet discovery by the AWS Load Balancer Controller (internet-facing vs internal ALBs).
  public_subnet_tags = {
    "kubernetes.io/role/elb" = 1
  }
  private_subnet_tags = {
    "kubernetes.io/role/internal-elb" = 1
  }

  tags = local.tags
}

################################################################################
# EKS
################################################################################

module "eks" {
  # checkov:skip=CKV_TF_1: a registry source cannot carry a commit hash (only git sources take ?ref=<sha>); the ~> constraint holds the module to one major release, and nothing pins the exact one (.terraform.lock.hcl locks providers, not modules)
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 21.0"

  name               = local.name
  kubernetes_version = var.kubernetes_version

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  # Private endpoint always; the public one only for the listed CIDRs (none by default).
  endpoint_private_access      = true
  endpoint_public_access       = length(var.endpoint_public_access_cidrs) > 0
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs

  # Secrets are envelope-encrypted with a module-created KMS key; control plane logs go to CloudWatch.
  encryption_config = {
    resources = ["secrets"]
  }
  enabled_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  # OIDC provider for IAM roles for service accounts (irsa.tf).
  enable_irsa = true

  # The identity that runs terraform administers the cluster (needed for the StorageClass below).
  enable_cluster_creator_admin_permissions = true

  addons = {
    coredns    = {}
    kube-proxy = {}
    vpc-cni = {
      before_compute = true
    }
    aws-ebs-csi-driver = {
      service_account_role_arn = module.ebs_csi_irsa.arn
    }
  }

  eks_managed_node_groups = {
    system = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.system_node_group.instance_types
      min_size       = var.system_node_group.min_size
      max_size       = var.system_node_group.max_size
      desired_size   = var.system_node_group.desired_size

      labels = {
        workload = "system"
      }
    }

    data = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.data_node_group.instance_types
      min_size       = var.data_node_group.min_size
      max_size       = var.data_node_group.max_size
      desired_size   = var.data_node_group.desired_size

      labels = {
        workload = "data"
      }
      # Only pods that tolerate it (Kafka, ClickHouse, training) land on the large nodes.
      taints = {
        data = {
          key    = "workload"
          value  = "data"
          effect = "NO_SCHEDULE"
        }
      }
    }
  }

  tags = local.tags
}

# The EBS CSI controller's own role: create/attach/delete volumes, nothing else.
module "ebs_csi_irsa" {
  # checkov:skip=CKV_TF_1: a registry source cannot carry a commit hash (only git sources take ?ref=<sha>); the ~> constraint holds the module to one major release, and nothing pins the exact one (.terraform.lock.hcl locks providers, not modules)
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts"
  version = "~> 6.0"

  name                  = "${local.name}-ebs-csi"
  attach_ebs_csi_policy = true

  oidc_providers = {
    this = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:ebs-csi-controller-sa"]
    }
  }

  tags = local.tags
}

################################################################################
# Storage class
################################################################################

# gp3 is cheaper and faster than EKS's gp2 default; every chart (Kafka, ClickHouse, MinIO, Chroma) asks for it.
resource "kubernetes_storage_class_v1" "gp3" {
  metadata {
    name = "gp3"
    annotations = {
      "storageclass.kubernetes.io/is-default-class" = "true"
    }
  }

  storage_provisioner    = "ebs.csi.aws.com"
  volume_binding_mode    = "WaitForFirstConsumer"
  allow_volume_expansion = true
  # Kafka logs and ClickHouse parts outlive an accidental PVC deletion.
  reclaim_policy = "Retain"

  parameters = {
    type      = "gp3"
    encrypted = "true"
    fsType    = "ext4"
  }

  depends_on = [module.eks]
}
