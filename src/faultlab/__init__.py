"""faultlab: reproduce vSphere storage faults on purpose and judge, from logs and the vSphere API, what happened."""

__version__ = "0.1.0"
