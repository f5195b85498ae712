"""ESX 3.5/4.x classic (VMkernel + Service Console) host profile of the embedded lab: ``lab up --version 4.1``."""
