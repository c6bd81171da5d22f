"""Who a client is and what it may do: principals, authentication (TLS, SASL) and
authorization (ACLs), as Kafka defines them. Pure logic here; the server layer wires it
to connections and requests."""
