"""The Karpenter controller's IAM policies, as upstream's getting-started template grants them.

Translated statement by statement from aws/karpenter-provider-aws:website/content/en/docs/
getting-started/getting-started-with-karpenter/cloudformation.yaml@v1.14.1 (the six
`KarpenterController*Policy` documents): node lifecycle scoped by the cluster and nodepool tags,
PassRole for the Karpenter node role only, instance profiles scoped by the ec2nodeclass tag,
`eks:DescribeCluster` on this cluster, the interruption queue, pricing and the SSM parameters
under `/aws/service/`. `tests/test_karpenter.py` checks the Sids and the scoping in the plan.
The node role trusts EC2 only: the template's extra `pods.eks.amazonaws.com` trust on the node
role is not needed by nodes and is left out.
"""

from __future__ import annotations

from typing import Any


def controller_policies(
    *,
    partition: str,
    region: str,
    account_id: str,
    cluster: str,
    node_role_arn: str,
    queue_arn: str,
) -> dict[str, dict[str, Any]]:
    """Policy name (as in the template, minus the cluster suffix) -> policy document."""
    return {
        "NodeLifecyclePolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowScopedEC2InstanceAccessActions",
                    "Effect": "Allow",
                    "Resource": [
                        f"arn:{partition}:ec2:{region}::image/*",
                        f"arn:{partition}:ec2:{region}::snapshot/*",
                        f"arn:{partition}:ec2:{region}:*:security-group/*",
                        f"arn:{partition}:ec2:{region}:*:subnet/*",
                        f"arn:{partition}:ec2:{region}:*:capacity-reservation/*",
                        f"arn:{partition}:ec2:{region}:*:placement-group/*",
                    ],
                    "Action": [
                        "ec2:RunInstances",
                        "ec2:CreateFleet",
                    ],
                },
                {
                    "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
                    "Effect": "Allow",
                    "Resource": f"arn:{partition}:ec2:{region}:*:launch-template/*",
                    "Action": [
                        "ec2:RunInstances",
                        "ec2:CreateFleet",
                    ],
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                        },
                        "StringLike": {
                            "aws:ResourceTag/karpenter.sh/nodepool": "*",
                        },
                    },
                },
                {
                    "Sid": "AllowScopedEC2InstanceActionsWithTags",
                    "Effect": "Allow",
                    "Resource": [
                        f"arn:{partition}:ec2:{region}:*:fleet/*",
                        f"arn:{partition}:ec2:{region}:*:instance/*",
                        f"arn:{partition}:ec2:{region}:*:volume/*",
                        f"arn:{partition}:ec2:{region}:*:network-interface/*",
                        f"arn:{partition}:ec2:{region}:*:launch-template/*",
                        f"arn:{partition}:ec2:{region}:*:spot-instances-request/*",
                    ],
                    "Action": [
                        "ec2:RunInstances",
                        "ec2:CreateFleet",
                        "ec2:CreateLaunchTemplate",
                    ],
                    "Condition": {
                        "StringEquals": {
                            f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
                            "aws:RequestTag/eks:eks-cluster-name": f"{cluster}",
                        },
                        "StringLike": {
                            "aws:RequestTag/karpenter.sh/nodepool": "*",
                        },
                    },
                },
                {
                    "Sid": "AllowScopedResourceCreationTagging",
                    "Effect": "Allow",
                    "Resource": [
                        f"arn:{partition}:ec2:{region}:*:fleet/*",
                        f"arn:{partition}:ec2:{region}:*:instance/*",
                        f"arn:{partition}:ec2:{region}:*:volume/*",
                        f"arn:{partition}:ec2:{region}:*:network-interface/*",
                        f"arn:{partition}:ec2:{region}:*:launch-template/*",
                        f"arn:{partition}:ec2:{region}:*:spot-instances-request/*",
                    ],
                    "Action": "ec2:CreateTags",
                    "Condition": {
                        "StringEquals": {
                            f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
                            "aws:RequestTag/eks:eks-cluster-name": f"{cluster}",
                            "ec2:CreateAction": [
                                "RunInstances",
                                "CreateFleet",
                                "CreateLaunchTemplate",
                            ],
                        },
                        "StringLike": {
                            "aws:RequestTag/karpenter.sh/nodepool": "*",
                        },
                    },
                },
                {
                    "Sid": "AllowScopedResourceTagging",
                    "Effect": "Allow",
                    "Resource": f"arn:{partition}:ec2:{region}:*:instance/*",
                    "Action": "ec2:CreateTags",
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                        },
                        "StringLike": {
                            "aws:ResourceTag/karpenter.sh/nodepool": "*",
                        },
                        "StringEqualsIfExists": {
                            "aws:RequestTag/eks:eks-cluster-name": f"{cluster}",
                        },
                        "ForAllValues:StringEquals": {
                            "aws:TagKeys": [
                                "eks:eks-cluster-name",
                                "karpenter.sh/nodeclaim",
                                "Name",
                            ],
                        },
                    },
                },
                {
                    "Sid": "AllowScopedDeletion",
                    "Effect": "Allow",
                    "Resource": [
                        f"arn:{partition}:ec2:{region}:*:instance/*",
                        f"arn:{partition}:ec2:{region}:*:launch-template/*",
                    ],
                    "Action": [
                        "ec2:TerminateInstances",
                        "ec2:DeleteLaunchTemplate",
                    ],
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                        },
                        "StringLike": {
                            "aws:ResourceTag/karpenter.sh/nodepool": "*",
                        },
                    },
                },
            ],
        },
        "IAMIntegrationPolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowPassingInstanceRole",
                    "Effect": "Allow",
                    "Resource": f"{node_role_arn}",
                    "Action": "iam:PassRole",
                    "Condition": {
                        "StringEquals": {
                            "iam:PassedToService": [
                                "ec2.amazonaws.com",
                                "ec2.amazonaws.com.cn",
                            ],
                        },
                    },
                },
                {
                    "Sid": "AllowScopedInstanceProfileCreationActions",
                    "Effect": "Allow",
                    "Resource": f"arn:{partition}:iam::{account_id}:instance-profile/*",
                    "Action": [
                        "iam:CreateInstanceProfile",
                    ],
                    "Condition": {
                        "StringEquals": {
                            f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
                            "aws:RequestTag/eks:eks-cluster-name": f"{cluster}",
                            "aws:RequestTag/topology.kubernetes.io/region": f"{region}",
                        },
                        "StringLike": {
                            "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                        },
                    },
                },
                {
                    "Sid": "AllowScopedInstanceProfileTagActions",
                    "Effect": "Allow",
                    "Resource": f"arn:{partition}:iam::{account_id}:instance-profile/*",
                    "Action": [
                        "iam:TagInstanceProfile",
                    ],
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                            "aws:ResourceTag/topology.kubernetes.io/region": f"{region}",
                            f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
                            "aws:RequestTag/eks:eks-cluster-name": f"{cluster}",
                            "aws:RequestTag/topology.kubernetes.io/region": f"{region}",
                        },
                        "StringLike": {
                            "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                            "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                        },
                    },
                },
                {
                    "Sid": "AllowScopedInstanceProfileActions",
                    "Effect": "Allow",
                    "Resource": f"arn:{partition}:iam::{account_id}:instance-profile/*",
                    "Action": [
                        "iam:AddRoleToInstanceProfile",
                        "iam:RemoveRoleFromInstanceProfile",
                        "iam:DeleteInstanceProfile",
                    ],
                    "Condition": {
                        "StringEquals": {
                            f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned",
                            "aws:ResourceTag/topology.kubernetes.io/region": f"{region}",
                        },
                        "StringLike": {
                            "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                        },
                    },
                },
            ],
        },
        "EKSIntegrationPolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowAPIServerEndpointDiscovery",
                    "Effect": "Allow",
                    "Resource": f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster}",
                    "Action": "eks:DescribeCluster",
                },
            ],
        },
        "InterruptionPolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowInterruptionQueueActions",
                    "Effect": "Allow",
                    "Resource": f"{queue_arn}",
                    "Action": [
                        "sqs:DeleteMessage",
                        "sqs:GetQueueUrl",
                        "sqs:ReceiveMessage",
                    ],
                },
            ],
        },
        "ZonalShiftPolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowZonalShiftStatusReadOnly",
                    "Effect": "Allow",
                    "Resource": "*",
                    "Action": [
                        "arc-zonal-shift:GetManagedResource",
                    ],
                    "Condition": {
                        "StringEquals": {
                            "arc-zonal-shift:ResourceIdentifier": (
                                f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster}"
                            ),
                        },
                    },
                },
            ],
        },
        "ResourceDiscoveryPolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowRegionalReadActions",
                    "Effect": "Allow",
                    "Resource": "*",
                    "Action": [
                        "ec2:DescribeCapacityReservations",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstances",
                        "ec2:DescribeInstanceStatus",
                        "ec2:DescribeInstanceTypeOfferings",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplates",
                        "ec2:DescribePlacementGroups",
                        "ec2:DescribeSecurityGroups",
                        "ec2:DescribeSpotPriceHistory",
                        "ec2:DescribeSubnets",
                    ],
                    "Condition": {
                        "StringEquals": {
                            "aws:RequestedRegion": f"{region}",
                        },
                    },
                },
                {
                    "Sid": "AllowSSMReadActions",
                    "Effect": "Allow",
                    "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
                    "Action": "ssm:GetParameter",
                },
                {
                    "Sid": "AllowPricingReadActions",
                    "Effect": "Allow",
                    "Resource": "*",
                    "Action": "pricing:GetProducts",
                },
                {
                    "Sid": "AllowUnscopedInstanceProfileListAction",
                    "Effect": "Allow",
                    "Resource": "*",
                    "Action": "iam:ListInstanceProfiles",
                },
                {
                    "Sid": "AllowInstanceProfileReadActions",
                    "Effect": "Allow",
                    "Resource": f"arn:{partition}:iam::{account_id}:instance-profile/*",
                    "Action": "iam:GetInstanceProfile",
                },
            ],
        },
    }


# The template's KarpenterNodeRole managed policies (ECR pull-only, not read-only: nodes never
# list or describe repositories).
NODE_ROLE_POLICIES = (
    "AmazonEKS_CNI_Policy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    "AmazonSSMManagedInstanceCore",
)

# The template's EventBridge rules, all targeting the interruption queue: AWS Health scheduled
# changes, spot interruption warnings, rebalance recommendations, instance state changes and
# capacity reservation interruptions.
INTERRUPTION_EVENT_PATTERNS: dict[str, dict[str, list[str]]] = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Spot Instance Interruption Warning"],
    },
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
    },
    "capacity-reservation-interruption": {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Capacity Reservation Instance Interruption Warning"],
    },
}
INTERRUPTION_MESSAGE_RETENTION_SECONDS = 300
"""The template's MessageRetentionPeriod: an interruption notice is useless after 5 minutes."""


def interruption_queue_policy(queue_arn: str) -> dict[str, Any]:
    """EventBridge (and SQS) may send; nothing may use the queue without TLS."""
    return {
        "Version": "2012-10-17",
        "Id": "EC2InterruptionPolicy",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "DenyHTTP",
                "Effect": "Deny",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                "Principal": "*",
            },
        ],
    }


def pod_identity_trust() -> dict[str, Any]:
    """EKS Pod Identity's trust, as the guide's `podIdentityAssociations` creates it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "pods.eks.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
