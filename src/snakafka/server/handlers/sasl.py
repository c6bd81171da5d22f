"""SaslHandshake and SaslAuthenticate outside an authentication, and the SCRAM credential
admin APIs (KIP-554).

The SASL requests of a connection that is authenticating never get here: the listener's
authenticator (server/authentication.py) answers them. Here they come on a listener
without SASL or after the exchange completed, and Kafka answers ILLEGAL_SASL_STATE.

DescribeUserScramCredentials and AlterUserScramCredentials follow Kafka's ZooKeeper-mode
ZkAdminManager: per-user results, RESOURCE_NOT_FOUND for a user without credentials or a
deletion of a credential that does not exist, UNSUPPORTED_SASL_MECHANISM for an unknown
mechanism, UNACCEPTABLE_CREDENTIAL for iterations outside 4096..16384 or an empty name,
DUPLICATE_RESOURCE for the same user (and mechanism) twice. The client salts the
password; the broker stores the derived stored and server keys only.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kio.schema.errors import ErrorCode
from kio.static.primitive import i8, i32

from snakafka.security import scram
from snakafka.server.context import ZERO, RequestContext, build

_EMPTY_USER = "Username must not be empty"


async def handle_sasl_handshake(ctx: RequestContext, request: Any) -> Any:
    return build(ctx.schema.SaslHandshakeResponse, error_code=ErrorCode.illegal_sasl_state, mechanisms=())


async def handle_sasl_authenticate(ctx: RequestContext, request: Any) -> Any:
    return build(ctx.schema.SaslAuthenticateResponse, error_code=ErrorCode.illegal_sasl_state,
                 error_message="SaslAuthenticate request received after successful authentication", auth_bytes=b"")


def _infos(schema: Any, creds: dict[str, str]) -> tuple[Any, ...]:
    infos = []
    for mechanism in scram.ScramMechanism:
        text = creds.get(mechanism.mechanism_name)
        if text is not None:
            infos.append(build(schema.CredentialInfo, mechanism=i8(mechanism.wire_type),
                               iterations=i32(scram.ScramCredential.from_text(text).iterations)))
    return tuple(infos)


async def handle_describe_user_scram_credentials(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    store = ctx.broker.users

    def result(user: str, code: ErrorCode = ErrorCode.none, message: str | None = None, infos: tuple[Any, ...] = ()) -> Any:
        return build(schema.DescribeUserScramCredentialsResult, user=user, error_code=code, error_message=message,
                     credential_infos=infos)

    results = []
    if not request.users:
        everyone = await store.all_user_credentials()
        results = [result(user, infos=_infos(schema, creds)) for user, creds in sorted(everyone.items())]
    else:
        names = [u.name for u in request.users]
        counts = Counter(names)
        for user in dict.fromkeys(names):  # each user once, in request order
            if not user:
                results.append(result(user, ErrorCode.resource_not_found, _EMPTY_USER))
            elif counts[user] > 1:
                results.append(result(user, ErrorCode.duplicate_resource,
                                      f"Cannot describe SCRAM credentials for the same user twice in a single request: {user}"))
            else:
                infos = _infos(schema, await store.user_credentials(user))
                if infos:
                    results.append(result(user, infos=infos))
                else:
                    results.append(result(user, ErrorCode.resource_not_found,
                                          f"Attempt to describe a user credential that does not exist: {user}"))
    return build(schema.DescribeUserScramCredentialsResponse, throttle_time=ZERO, error_code=ErrorCode.none,
                 error_message=None, results=tuple(results))


def _upsertion_problem(upsertion: Any) -> tuple[ErrorCode, str] | None:
    if not upsertion.name:
        return ErrorCode.unacceptable_credential, _EMPTY_USER
    if scram.ScramMechanism.from_type(int(upsertion.mechanism)) is None:
        return ErrorCode.unsupported_sasl_mechanism, "Unknown SCRAM mechanism"
    if upsertion.iterations < scram.MIN_ITERATIONS:
        return ErrorCode.unacceptable_credential, "Too few iterations"
    if upsertion.iterations > scram.MAX_ITERATIONS:
        return ErrorCode.unacceptable_credential, "Too many iterations"
    return None


async def handle_alter_user_scram_credentials(ctx: RequestContext, request: Any) -> Any:
    schema = ctx.schema
    store = ctx.broker.users
    failed: dict[str, tuple[ErrorCode, str]] = {}
    for deletion in request.deletions:
        if not deletion.name:
            failed[deletion.name] = (ErrorCode.unacceptable_credential, _EMPTY_USER)
        elif scram.ScramMechanism.from_type(int(deletion.mechanism)) is None:
            failed[deletion.name] = (ErrorCode.unsupported_sasl_mechanism, "Unknown SCRAM mechanism")
    for upsertion in request.upsertions:
        problem = _upsertion_problem(upsertion)
        if problem is not None:
            failed[upsertion.name] = problem
    pairs = Counter((c.name, int(c.mechanism)) for c in (*request.upsertions, *request.deletions) if c.name not in failed)
    for (user, _), count in pairs.items():
        if count > 1:
            failed[user] = (ErrorCode.duplicate_resource, "A user credential cannot be altered twice in the same request")
    users = [u for u in dict.fromkeys(c.name for c in (*request.upsertions, *request.deletions)) if u not in failed]
    succeeded = []
    for user in users:
        existing = await store.user_credentials(user)
        delete = [scram.ScramMechanism.from_type(int(d.mechanism)).mechanism_name  # type: ignore[union-attr]
                  for d in request.deletions if d.name == user]
        if any(m not in existing for m in delete):
            failed[user] = (ErrorCode.resource_not_found, "Attempt to delete a user credential that does not exist")
            continue
        upsert = {}
        for u in request.upsertions:
            if u.name == user:
                mechanism = scram.ScramMechanism.from_type(int(u.mechanism))
                assert mechanism is not None
                credential = scram.credential_from_salted_password(mechanism, bytes(u.salt), bytes(u.salted_password),
                                                                   int(u.iterations))
                upsert[mechanism.mechanism_name] = credential.to_text()
        await store.alter_user_credentials(user, upsert, delete)
        succeeded.append(user)
    results = [build(schema.AlterUserScramCredentialsResult, user=user, error_code=code, error_message=message)
               for user, (code, message) in failed.items()]
    results += [build(schema.AlterUserScramCredentialsResult, user=user, error_code=ErrorCode.none, error_message=None)
                for user in succeeded]
    return build(schema.AlterUserScramCredentialsResponse, throttle_time=ZERO, results=tuple(results))
