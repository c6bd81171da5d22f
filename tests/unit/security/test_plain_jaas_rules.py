"""SASL/PLAIN checks, JAAS config parsing and ssl.principal.mapping.rules, against the
examples of Kafka's own tests (PlainSaslServerTest, JaasContextTest, SslPrincipalMapperTest)."""

from __future__ import annotations

import pytest

from snakafka.security import plain
from snakafka.security.jaas import (
    JaasConfigError,
    parse_jaas_config,
    single_login_module,
)
from snakafka.security.ssl_principal import (
    MappingRuleError,
    parse_rules,
    principal_name,
)

USERS = {"alice": "alice-secret", "admin": "admin-secret"}


def test_plain_accepts_the_right_password() -> None:
    assert plain.authenticate(b"\0alice\0alice-secret", USERS) == "alice"
    assert plain.authenticate(b"alice\0alice\0alice-secret", USERS) == "alice"


@pytest.mark.parametrize(("token", "message"), [
    (b"\0alice\0wrong", "Authentication failed: Invalid username or password"),
    (b"\0mallory\0alice-secret", "Authentication failed: Invalid username or password"),
    (b"\0\0x", "Authentication failed: username not specified"),
    (b"\0alice\0", "Authentication failed: password not specified"),
    (b"alice-secret", "Invalid SASL/PLAIN response: expected 3 tokens, got 1"),
    (b"admin\0alice\0alice-secret", "Authentication failed: Client requested an authorization id that is different from username"),
])
def test_plain_refusals_carry_kafkas_messages(token: bytes, message: str) -> None:
    with pytest.raises(plain.PlainAuthenticationFailed) as failure:
        plain.authenticate(token, USERS)
    assert str(failure.value) == message


def test_jaas_config_with_users_and_client_credentials() -> None:
    module = single_login_module(
        'org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret"\n'
        '  user_admin="admin-secret" user_alice=\'al;ice\' debug=true;')
    assert module.name == "org.apache.kafka.common.security.plain.PlainLoginModule"
    assert (module.flag, module.username, module.password) == ("required", "admin", "admin-secret")
    assert module.users == {"admin": "admin-secret", "alice": "al;ice"}
    assert module.options["debug"] == "true"


@pytest.mark.parametrize("text", [
    "org.Module required username=\"a\"",  # no ';'
    "org.Module username=\"a\";",  # no control flag
    "org.Module required username;",
    'org.Module required username="a;',
])
def test_malformed_jaas_configs_are_refused(text: str) -> None:
    with pytest.raises(JaasConfigError):
        parse_jaas_config(text)


def test_a_listener_takes_exactly_one_login_module() -> None:
    with pytest.raises(JaasConfigError, match="contains 2 login modules, should be 1"):
        single_login_module("a.B required; c.D required;")


KAFKA_RULES = ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, "
               "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT")


@pytest.mark.parametrize(("dn", "name"), [
    ("CN=Duke,OU=ServiceUsers,O=Org,C=US", "duke"),
    ("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme"),
    ("cn=duke,ou=sme,dc=mycp,dc=com", "DUKE@SME"),
    ("cN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE"),
    ("OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US"),
])
def test_principal_mapping_rules_as_in_kafkas_tests(dn: str, name: str) -> None:
    assert principal_name(dn, parse_rules(KAFKA_RULES)) == name


@pytest.mark.parametrize("rules", ["default", "DEFAUL", "DEFAULT/L", "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
                                   "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/", "RULE:^CN=(.*?),OU=ServiceUsers.*$/L"])
def test_invalid_mapping_rules_are_refused(rules: str) -> None:
    with pytest.raises(MappingRuleError):
        parse_rules(rules)


def test_no_matching_rule_refuses_the_principal() -> None:
    with pytest.raises(MappingRuleError, match="No rules apply"):
        principal_name("CN=x,O=y", parse_rules("RULE:^CN=(.*),OU=z$/$1/"))
