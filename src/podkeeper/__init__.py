"""podkeeper: the kubelet's health-keeping machinery for any Linux host."""

__version__ = "0.1.0"
KUBE_MINOR = "1.33"
