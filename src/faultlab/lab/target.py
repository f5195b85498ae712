"""The storage-target role: the target's service commands and its iptables INPUT chain, over SSH."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from faultlab.lab.errors import LabError
from faultlab.lab.esxi import Runner
from faultlab.lab.inventory import Inventory, StorageTarget
from faultlab.lab.result import CommandResult, quote_command

IPTABLES = ("iptables", "-w", "5")  # -w: wait for the xtables lock instead of failing


def iptables_argv(ssh_user: str) -> list[str]:
    """iptables needs root: a non-root SSH user goes through `sudo -n` (fails at once if sudo would ask)."""
    return list(IPTABLES) if ssh_user in ("", "root") else ["sudo", "-n", *IPTABLES]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of `iptables -S <chain>`: its argv after `-A <chain>`, and its comment if any."""

    chain: str
    spec: tuple[str, ...]

    @property
    def comment(self) -> str | None:
        for i, word in enumerate(self.spec[:-1]):
            if word == "--comment":
                return self.spec[i + 1]
        return None


def parse_rules(text: str, chain: str = "INPUT") -> list[Rule]:
    """The `-A <chain> ...` lines of `iptables -S` (policy lines `-P` are skipped)."""
    rules: list[Rule] = []
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) >= 2 and words[0] == "-A" and words[1] == chain:
            rules.append(Rule(chain, tuple(words[2:])))
    return rules


def command_text(command: str | list[str]) -> str:
    """An inventory command as one shell line (argv lists are quoted)."""
    return quote_command(command)


class StorageTargetRole:
    """One storage server: run its service commands, read and change its INPUT chain."""

    def __init__(self, target: StorageTarget, client: Runner, ssh_user: str = "root") -> None:
        self.target, self.client = target, client
        self.iptables_argv = iptables_argv(ssh_user)

    @classmethod
    def of(cls, inventory: Inventory, name: str, client: Runner) -> StorageTargetRole:
        return cls(inventory.target(name), client, inventory.ssh_for(name).user)

    @property
    def name(self) -> str:
        return self.target.name

    def service_command(self, verb: str) -> str:
        """The shell line of service.<verb> (start, stop, status, freeze, thaw, lun_remove, lun_add)."""
        command = getattr(self.target.service, verb, None)
        if command is None:
            raise LabError(f"storage target has no service.{verb} command in the inventory", host=self.name)
        return command_text(command)

    def run_service(self, verb: str, *, check: bool = True) -> CommandResult:
        res = self.client.run(self.service_command(verb))
        if check and not res.succeeded:
            raise LabError(
                f"service.{verb} ({self.service_command(verb)}) exited {res.exit_status}: "
                f"{(res.stderr.strip() or res.stdout.strip())[-300:]}",
                host=self.name,
            )
        return res

    def iptables(self, *args: str) -> CommandResult:
        res = self.client.run([*self.iptables_argv, *args])
        if not res.succeeded:
            raise LabError(f"iptables {' '.join(args)} exited {res.exit_status}: {res.stderr.strip()}", host=self.name)
        return res

    def rules(self, chain: str = "INPUT") -> list[Rule]:
        return parse_rules(self.iptables("-S", chain).stdout, chain)

    def delete_rule(self, rule: Rule) -> None:
        self.iptables("-D", rule.chain, *rule.spec)
