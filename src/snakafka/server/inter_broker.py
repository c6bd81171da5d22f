"""The client side of the inter-broker listener: how this broker's followers, transaction
marker writes and controlled shutdown reach the other brokers.

Kafka's brokers connect to each other on the inter-broker listener
(inter.broker.listener.name, or security.inter.broker.protocol's listener) with that
listener's security protocol: its ssl.* settings for TLS (the trust store to verify the
peer, the key store as client certificate) and sasl.mechanism.inter.broker.protocol with
the username / password of the listener's JAAS config for that mechanism
(PlainLoginModule or ScramLoginModule).
"""

from __future__ import annotations

from dataclasses import dataclass

from snakafka.client.connection import BrokerConnection
from snakafka.client.security import ClientSecurity
from snakafka.config.broker import BrokerConfig
from snakafka.config.definitions import ConfigError
from snakafka.security.jaas import JaasConfigError, single_login_module
from snakafka.server.tls import client_context


@dataclass(frozen=True, slots=True)
class InterBrokerClient:
    listener: str
    security: ClientSecurity

    @classmethod
    def from_config(cls, config: BrokerConfig) -> InterBrokerClient:
        listener = config.inter_broker_listener
        sec = config.listener_security(listener)
        context = client_context(sec) if sec.uses_ssl else None
        if not sec.uses_sasl:
            return cls(listener, ClientSecurity(sec.protocol, context))
        mechanism = config.sasl_mechanism_inter_broker_protocol
        if mechanism not in sec.enabled_mechanisms:
            raise ConfigError(f"Invalid configuration sasl.mechanism.inter.broker.protocol={mechanism}: "
                              f"sasl.enabled.mechanisms of inter-broker listener {listener} must include it")
        text = sec.jaas_by_mechanism.get(mechanism)
        if text is None:
            raise ConfigError(f"Invalid configuration: no sasl.jaas.config for mechanism {mechanism} on inter-broker "
                              f"listener {listener} (listener.name.{listener.lower()}.{mechanism.lower()}.sasl.jaas.config)")
        try:
            module = single_login_module(text)
        except JaasConfigError as exc:
            raise ConfigError(f"Invalid sasl.jaas.config of listener {listener}: {exc}") from None
        if module.username is None or module.password is None:
            raise ConfigError(f"Invalid sasl.jaas.config of inter-broker listener {listener}: the {mechanism} login module "
                              "needs username and password for this broker's own connections")
        return cls(listener, ClientSecurity(sec.protocol, context, mechanism, module.username, module.password))

    def connection(self, host: str, port: int, client_id: str) -> BrokerConnection:
        return BrokerConnection(host, port, client_id=client_id, security=self.security)
