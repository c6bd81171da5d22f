"""`snakafka acls` (kafka-acls.sh's options) against a broker with an authorizer: add,
list (all, one resource, a MATCH filter, one principal), remove with --force, the
--producer / --consumer shortcuts, and the refusals kafka-acls.sh makes itself."""

from __future__ import annotations

from click.testing import CliRunner, Result

from integration.acl_clients import OK, TOPIC_DENIED, produce, unique
from integration.helpers import confluent_create_topic
from snakafka.cli.main import main
from snakafka.testing.process import BrokerProcess


def cli(broker: BrokerProcess, *args: str) -> Result:
    """`snakafka acls ...`, run in this process (the command's own code, without a
    Python start-up per call)."""
    return CliRunner().invoke(main, ["acls", "--bootstrap-server", broker.bootstrap, *args])


def entry(principal: str, op: str, permission: str = "ALLOW", host: str = "*") -> str:
    return f"(principal={principal}, host={host}, operation={op}, permissionType={permission})"


def test_add_list_remove(acl_broker: BrokerProcess) -> None:
    t = unique("cli-")
    confluent_create_topic(acl_broker.bootstrap, t)
    added = cli(acl_broker, "--add", "--allow-principal", "User:alice", "--allow-principal", "User:bob",
                "--operation", "Read", "--operation", "Describe", "--topic", t)
    assert added.exit_code == 0, added.output
    assert f"Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name={t}, patternType=LITERAL)`" in added.stdout
    assert entry("User:bob", "DESCRIBE") in added.stdout
    assert produce(acl_broker.bootstrap, t) == TOPIC_DENIED  # ACLs on t now, none for ANONYMOUS

    denied = cli(acl_broker, "--add", "--deny-principal", "User:ANONYMOUS", "--deny-host", "127.0.0.1",
                 "--topic", t[:-3], "--resource-pattern-type", "prefixed", "--operation", "Write")
    assert denied.exit_code == 0, denied.output
    assert cli(acl_broker, "--add", "--allow-principal", "User:ANONYMOUS", "--producer", "--topic", t).exit_code == 0

    listed = cli(acl_broker, "--list", "--topic", t, "--resource-pattern-type", "match").stdout
    assert f"name={t[:-3]}, patternType=PREFIXED" in listed
    assert entry("User:ANONYMOUS", "WRITE", "DENY", "127.0.0.1") in listed
    assert entry("User:ANONYMOUS", "CREATE") in listed  # from --producer
    assert produce(acl_broker.bootstrap, t) == TOPIC_DENIED  # the DENY wins over --producer's ALLOW
    only_bob = cli(acl_broker, "--list", "--principal", "User:bob").stdout
    assert entry("User:bob", "READ") in only_bob
    assert "User:alice" not in only_bob

    removed = cli(acl_broker, "--remove", "--topic", t[:-3], "--resource-pattern-type", "prefixed", "--force")
    assert removed.exit_code == 0, removed.output
    assert produce(acl_broker.bootstrap, t) is OK
    assert cli(acl_broker, "--remove", "--allow-principal", "User:alice", "--operation", "Read", "--topic", t,
               "--force").exit_code == 0
    remaining = cli(acl_broker, "--list", "--topic", t).stdout
    assert entry("User:alice", "READ") not in remaining
    assert entry("User:alice", "DESCRIBE") in remaining
    assert t in cli(acl_broker, "--list").stdout


def test_refusals(acl_broker: BrokerProcess) -> None:
    no_action = cli(acl_broker, "--topic", "x")
    assert no_action.exit_code == 2
    assert "exactly one action" in no_action.output
    bad_op = cli(acl_broker, "--add", "--allow-principal", "User:a", "--operation", "Read", "--cluster")
    assert bad_op.exit_code == 2
    assert "ResourceType Cluster only supports operations" in bad_op.output
    bad_principal = cli(acl_broker, "--add", "--allow-principal", "alice", "--topic", "x")
    assert bad_principal.exit_code == 2
    assert "principalType:principalName" in bad_principal.output
    bad_pattern = cli(acl_broker, "--add", "--allow-principal", "User:a", "--topic", "x", "--resource-pattern-type", "match")
    assert bad_pattern.exit_code == 2
    assert "is not valid when adding acls" in bad_pattern.output
