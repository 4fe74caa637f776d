"""Which EC2 instance types have Elastic Fabric Adapter (EFA) network interfaces: the one table of it.

EFA gives the nodes of a multi-node job OS-bypass networking (libfabric; NCCL through aws-ofi-nccl) for
their collectives. The table maps each instance type that supports EFA to the most EFA interfaces it
takes (one per network card).

Source: EC2's DescribeInstanceTypes, ``NetworkInfo.EfaSupported`` and ``NetworkInfo.EfaInfo.MaximumEfaInterfaces``
(``aws ec2 describe-instance-types --filters Name=network-info.efa-supported,Values=true``), as listed under
"Supported instance types" on the Elastic Fabric Adapter page of the Amazon EC2 User Guide. Kept to the
GPU, accelerator and HPC families a training job uses (p, g, gr, trn, dl, hpc, and the 100 Gbit c/m sizes).
tests/aws/test_efa.py checks every entry against the instance type data the EC2 emulator ships.

trainctl attaches one EFA interface, as the primary interface (device 0, network card 0): an instance
launched with more than one network interface gets no public address, and a job in the default VPC
needs one to reach S3, SSM and CloudWatch without a NAT gateway. Types with several network cards
(p4d: 4, p5: 32) therefore use a part of their EFA bandwidth; the plan says so.
"""

from __future__ import annotations

EFA_INTERFACES: dict[str, int] = {
    "c5n.18xlarge": 1,
    "c5n.9xlarge": 1,
    "c5n.metal": 1,
    "c6i.32xlarge": 1,
    "c6i.metal": 1,
    "c6id.32xlarge": 1,
    "c6id.metal": 1,
    "c6in.32xlarge": 2,
    "c6in.metal": 2,
    "c7i.48xlarge": 1,
    "c7i.metal-48xl": 1,
    "dl2q.24xlarge": 1,
    "g4dn.12xlarge": 1,
    "g4dn.16xlarge": 1,
    "g4dn.8xlarge": 1,
    "g4dn.metal": 1,
    "g5.12xlarge": 1,
    "g5.16xlarge": 1,
    "g5.24xlarge": 1,
    "g5.48xlarge": 1,
    "g5.8xlarge": 1,
    "g6.12xlarge": 1,
    "g6.16xlarge": 1,
    "g6.24xlarge": 1,
    "g6.48xlarge": 1,
    "g6.8xlarge": 1,
    "g6e.12xlarge": 1,
    "g6e.16xlarge": 1,
    "g6e.24xlarge": 2,
    "g6e.48xlarge": 4,
    "g6e.8xlarge": 1,
    "g7.12xlarge": 1,
    "g7.24xlarge": 1,
    "g7.48xlarge": 2,
    "g7.8xlarge": 1,
    "g7e.12xlarge": 1,
    "g7e.24xlarge": 2,
    "g7e.48xlarge": 4,
    "g7e.8xlarge": 1,
    "gr6.8xlarge": 1,
    "hpc6a.48xlarge": 1,
    "hpc6id.32xlarge": 2,
    "hpc7a.12xlarge": 2,
    "hpc7a.24xlarge": 2,
    "hpc7a.48xlarge": 2,
    "hpc7a.96xlarge": 2,
    "hpc7g.16xlarge": 1,
    "hpc7g.4xlarge": 1,
    "hpc7g.8xlarge": 1,
    "hpc8a.96xlarge": 2,
    "m6i.32xlarge": 1,
    "m6i.metal": 1,
    "m6id.32xlarge": 1,
    "m6id.metal": 1,
    "m6idn.32xlarge": 2,
    "m6idn.metal": 2,
    "m6in.32xlarge": 2,
    "m6in.metal": 2,
    "m7i.48xlarge": 1,
    "m7i.metal-48xl": 1,
    "p3dn.24xlarge": 1,
    "p4d.24xlarge": 4,
    "p4de.24xlarge": 4,
    "p5.48xlarge": 32,
    "p5.4xlarge": 1,
    "p5e.48xlarge": 32,
    "p5en.48xlarge": 16,
    "p6-b200.48xlarge": 8,
    "p6-b300.48xlarge": 16,
    "trn1.32xlarge": 8,
    "trn1n.32xlarge": 16,
    "trn2.3xlarge": 1,
    "trn2.48xlarge": 16,
    "trn2u.48xlarge": 16,
}
ATTACHED_INTERFACES = 1


def supports_efa(instance_type: str) -> bool:
    """Whether ``instance_type`` takes EFA network interfaces."""
    return instance_type in EFA_INTERFACES


def efa_notice(instance_type: str) -> str | None:
    """What the plan of a multi-node job says about EFA on ``instance_type`` (None: nothing to say)."""
    most = EFA_INTERFACES.get(instance_type)
    if most is None:
        return (
            f"{instance_type} has no EFA: the nodes talk over plain TCP (ENA); for faster collectives choose "
            "an EFA instance type (docs/aws.md)"
        )
    if most > ATTACHED_INTERFACES:
        return (
            f"{instance_type} takes {most} EFA interfaces; trainctl attaches {ATTACHED_INTERFACES} "
            "(the default VPC needs the instance's public address, which several interfaces rule out)"
        )
    return None
