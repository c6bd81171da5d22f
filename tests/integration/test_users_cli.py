"""`snakafka users` (kafka-configs.sh --entity-type users) against the secured broker,
itself connecting over SASL_SSL with a --command-config in Java client keys: a SCRAM user
added, used by confluent-kafka, described, deleted (and then refused); a bad password in
the command config is a one-line error."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from confluent_kafka.admin import AdminClient

from integration.secure_broker import SecureBroker
from integration.test_security_refusals import first_error
from snakafka.cli.main import main


def command_config(secure: SecureBroker, path: Path, password: str = "bob-secret") -> Path:
    path.write_text("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                    f'username="bob" password="{password}";\n'
                    f"ssl.truststore.type=PEM\nssl.truststore.location={secure.certs.broker.ca}\n")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["users", *args])
    return result.exit_code, result.output


def test_add_describe_delete_a_scram_user(secure: SecureBroker, tmp_path: Path) -> None:
    config = str(command_config(secure, tmp_path / "admin.properties"))
    common = ["--bootstrap-server", secure.bootstrap("SASL_SSL"), "--command-config", config]
    code, out = run(*common, "--user", "carol", "--add-scram", "SCRAM-SHA-256=[iterations=8192,password=carol-secret]")
    assert (code, out) == (0, "Completed updating config for user carol.\n")
    carol = secure.confluent("SASL_SSL", "SCRAM-SHA-256", user="carol", password="carol-secret")
    assert AdminClient(carol).list_topics(timeout=10).brokers

    code, out = run(*common, "--describe", "--user", "carol")
    assert (code, out) == (0, "SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-256=iterations=8192\n")
    code, out = run(*common, "--describe")
    assert code == 0 and "'bob' are SCRAM-SHA-256=iterations=4096, SCRAM-SHA-512=iterations=4096" in out and "'carol'" in out

    code, out = run(*common, "--user", "carol", "--delete-config", "SCRAM-SHA-256")
    assert code == 0, out
    assert "invalid credentials" in first_error(carol)
    code, out = run(*common, "--describe", "--user", "carol")
    assert code == 1 and "Attempt to describe a user credential that does not exist: carol" in out


def test_refusals_are_one_line(secure: SecureBroker, tmp_path: Path) -> None:
    config = str(command_config(secure, tmp_path / "wrong.properties", password="wrong"))
    code, out = run("--bootstrap-server", secure.bootstrap("SASL_SSL"), "--command-config", config, "--describe")
    assert code == 1
    assert out.strip() == (f"Error: authentication with {secure.bootstrap('SASL_SSL')} failed: Authentication failed during "
                           "authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")
    good = str(command_config(secure, tmp_path / "good.properties"))
    code, out = run("--bootstrap-server", secure.bootstrap("SASL_SSL"), "--command-config", good, "--user", "dan",
                    "--add-scram", "SCRAM-SHA-512=[iterations=100,password=x]")
    assert code == 1 and "Error altering user dan: UNACCEPTABLE_CREDENTIAL: Too few iterations" in out
