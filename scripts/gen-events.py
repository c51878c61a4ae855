#!/usr/bin/env python3
"""Writes events/*.json: one API Gateway event per function and case, for
`cargo lambda invoke <function> --data-file events/<file>.json` against `cargo lambda watch`.

HTTP functions get API Gateway HTTP API (payload 2.0) events, DeviceHive gets WebSocket API
events, its `$connect` authorizer REQUEST authorizer events, the audit log a DynamoDB stream
event (a batch of records, as the event source mapping delivers it). Tokens are HS256 JWTs for the demo
users (demo/users.json: 1 ada admin, 2 bob viewer) signed with the local development secret that
scripts/run exports as JWT_SECRET, valid until 2100. Everything is fixed (no clock, no
randomness), so running this again reproduces the files byte for byte.

    python3 scripts/gen-events.py          # (re)write events/
    python3 scripts/gen-events.py --check  # exit 1 if events/ differs from what it would write

tests/integration/events.rs feeds every file through its function's handler and checks the outcome its
name documents (<function>-[<variant>-]success|bad-token|bad-body.json).
"""

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

LOCAL_SECRET = b"local-development-secret-change-me-0123456789"
OTHER_SECRET = b"not-the-secret-this-deployment-uses-9876543210"
IAT = 1735689600  # 2025-01-01T00:00:00Z
EXP = 4102444800  # 2100-01-01T00:00:00Z
TIME_EPOCH_MS = 1735689600000
TIME = "01/Jan/2025:00:00:00 +0000"

ADA = {"sub": "1", "roles": ["admin"]}
BOB = {"sub": "2", "roles": ["viewer"]}
BOB_UUID = "0b0c1d2e-0000-4000-8000-000000000002"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(who, secret=LOCAL_SECRET, iat=IAT, exp=EXP, alg="HS256") -> str:
    header = {"alg": alg, "typ": "JWT"}
    claims = {"sub": who["sub"], "roles": who["roles"], "iat": iat, "exp": exp}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if alg == "none":
        return signing_input + "."
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def http_event(name, method, route, path, params, token, body):
    """An API Gateway HTTP API payload 2.0 event, as shared::apigw::HttpEvent::to_json shapes it."""
    body_text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    headers = {
        "accept": "application/json",
        "authorization": f"Bearer {token}",
        "content-length": str(len(body_text.encode())),
        "content-type": "application/json",
        "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-67748580-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.10",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    route_key = f"{method} {route}"
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "curl/8.5.0",
            },
            "requestId": f"fixture-{name}",
            "routeKey": route_key,
            "stage": "$default",
            "time": TIME,
            "timeEpoch": TIME_EPOCH_MS,
        },
    }
    if params:
        event["pathParameters"] = params
    event["body"] = body_text
    event["isBase64Encoded"] = False
    return event


def ws_event(name, route_key, body, authorizer):
    """An API Gateway WebSocket API message event (shared::apigw::websocket::ws_event)."""
    context = {
        "routeKey": route_key,
        "eventType": "MESSAGE",
        "extendedRequestId": f"fixture-{name}",
        "requestTime": TIME,
        "messageDirection": "IN",
        "stage": "live",
        "connectedAt": TIME_EPOCH_MS - 5000,
        "requestTimeEpoch": TIME_EPOCH_MS,
        "identity": {"sourceIp": "203.0.113.10"},
        "requestId": f"fixture-{name}",
        "domainName": "ws1234abcd.execute-api.us-east-1.amazonaws.com",
        "connectionId": "Z3Jvb3ZlLWNvbm4=",
        "apiId": "ws1234abcd",
        "messageId": f"msg-{name}",
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def authorizer_event(name, query_token=None, authorization=None):
    """A REQUEST authorizer event for the WebSocket API's $connect route."""
    headers = {
        "Host": "ws1234abcd.execute-api.us-east-1.amazonaws.com",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "X-Amzn-Trace-Id": "Root=1-67748580-0123456789abcdef01234567",
        "X-Forwarded-For": "203.0.113.10",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if authorization is not None:
        headers["Authorization"] = authorization
    query = {"token": query_token} if query_token is not None else {}
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:ws1234abcd/live/$connect",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "stageVariables": {},
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": f"fixture-{name}",
            "requestTime": TIME,
            "messageDirection": "IN",
            "stage": "live",
            "connectedAt": TIME_EPOCH_MS,
            "requestTimeEpoch": TIME_EPOCH_MS,
            "identity": {"sourceIp": "203.0.113.10"},
            "requestId": f"fixture-{name}",
            "domainName": "ws1234abcd.execute-api.us-east-1.amazonaws.com",
            "connectionId": "Z3Jvb3ZlLWNvbm4=",
            "apiId": "ws1234abcd",
        },
    }


def stream_event(records):
    """A DynamoDB stream event as Lambda's event source mapping delivers it (NEW_AND_OLD_IMAGES)."""
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/userprofile-users/stream/2025-01-01T00:00:00.000"
    out = []
    for i, (name, old, new) in enumerate(records):
        keys = {"pk": (new or old)["pk"]}
        change = {
            "ApproximateCreationDateTime": TIME_EPOCH_MS // 1000,
            "Keys": keys,
            "SequenceNumber": f"{100000000000000000000 + i}",
            "SizeBytes": 512,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if old is not None:
            change["OldImage"] = old
        if new is not None:
            change["NewImage"] = new
        out.append({
            "eventID": f"{i + 1:032x}",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": change,
            "eventSourceARN": arn,
        })
    return {"Records": out}


def bob_item(version, nickname, stamp):
    """bob (demo/users.json) as a users-table item, with the stamp of the write that left it."""
    item = {
        "pk": {"S": "USER#2"}, "id": {"N": "2"}, "uuid": {"S": BOB_UUID},
        "username": {"S": "bob"}, "email": {"S": "bob@example.com"},
        "first_name": {"S": "Bob"}, "last_name": {"S": "Builder"},
        "roles": {"SS": ["viewer"]}, "status": {"S": "active"},
        "password_hash": {"S": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"},
        "version": {"N": str(version)},
        "created_at": {"S": "2025-01-01T00:00:00Z"}, "updated_at": {"S": "2025-01-01T00:00:00Z"},
    }
    if nickname is not None:
        item["nickname"] = {"S": nickname}
    actor, api, request = stamp
    item.update({"last_actor": {"N": actor}, "last_api": {"S": api}, "last_request": {"S": request}})
    return item


def events():
    ada, bob = jwt(ADA), jwt(BOB)
    # What API Gateway hands every message of a connection the authorizer allowed: the policy's
    # principalId and context (shared::authorizer_context::ConnectionPrincipal::to_context).
    bob_context = {
        "principalId": "2",
        "integrationLatency": 0,
        "userId": "2",
        "roles": '["viewer"]',
        "exp": EXP,
    }
    out = {}

    def http(name, *args):
        out[name] = http_event(name, *args)

    # Unleash: ada (admin) renames bob. Bad token: ada's claims signed with another secret.
    u = ("PUT", "/api/admin/user-admin/{id}", "/api/admin/user-admin/2", {"id": "2"})
    http("unleash-user-admin-success", *u, ada, {"name": "Robert Builder", "rootRole": "Editor"})
    http("unleash-user-admin-bad-token", *u, jwt(ADA, secret=OTHER_SECRET), {"name": "Robert Builder"})
    http("unleash-user-admin-bad-body", *u, ada, {"name": 42, "rootRole": "Editor"})

    # NEWM: bob patches his own profile (/me and by his UUID). Bad token: expired in 2024.
    me = ("PATCH", "/v1/users/me", "/v1/users/me", None)
    by_uuid = ("PATCH", "/v1/users/{userId}", f"/v1/users/{BOB_UUID}", {"userId": BOB_UUID})
    profile = {"nickname": "Bobby", "pictureUrl": "https://example.com/bob.png", "role": "Producer"}
    http("newm-patch-user-success", *me, bob, profile)
    http("newm-patch-user-by-uuid-success", *by_uuid, bob, {"nickname": "Bobby"})
    http("newm-patch-user-bad-token", *me, jwt(BOB, iat=1704067200, exp=1704070800), profile)
    http("newm-patch-user-bad-body", *me, bob, {"nickname": 42})

    # MMC: bob edits his own profile, repeating his roles. Bad token: not a JWT at all.
    m = ("PUT", "/api/profile/{userName}", "/api/profile/bob", {"userName": "bob"})
    http("mmc-profile-success", *m, bob, {"username": "bob", "roles": ["viewer"]})
    http("mmc-profile-bad-token", *m, "not-a-jwt", {"username": "bob", "roles": ["viewer"]})
    http("mmc-profile-bad-body", *m, bob, {"username": "bob", "roles": "viewer"})

    # AAA: bob sets his unlocked preference 3. Bad token: alg "none" (unsigned).
    a = ("PUT", "/api/AAA/UserProfiles/{id}", "/api/AAA/UserProfiles/2", {"id": "2"})
    pref = {"Preferences": [{"PreferenceID": 3, "PreferenceValue": 7}]}
    http("aaa-user-profile-success", *a, bob, pref)
    http("aaa-user-profile-bad-token", *a, jwt(BOB, alg="none"), pref)
    http("aaa-user-profile-bad-body", *a, bob, {"Preferences": [{"PreferenceID": "three", "PreferenceValue": 7}]})

    # DeviceHive user/update: bob updates his own data. Bad token: a message on a connection
    # without the $connect authorizer's context. Bad body: a frame that is not JSON, which API
    # Gateway cannot route on `action` and hands to $default.
    update = {
        "action": "user/update",
        "requestId": "fixture-1",
        "userId": "current",
        "user": {"data": {"team": "red"}, "introReviewed": True},
    }
    update_text = json.dumps(update, separators=(",", ":"))
    out["devicehive-user-update-success"] = ws_event(
        "devicehive-user-update-success", "user/update", update_text, bob_context
    )
    out["devicehive-user-update-bad-token"] = ws_event(
        "devicehive-user-update-bad-token", "user/update", update_text, None
    )
    out["devicehive-user-update-bad-body"] = ws_event(
        "devicehive-user-update-bad-body",
        "$default",
        '{"action":"user/update","userId":"current","user":{"data":',
        bob_context,
    )

    # DeviceHive REST: bob updates his own data; an expired token; a body that is not JSON.
    rest = ("PUT", "/api/rest/user/current", "/api/rest/user/current", None)
    rest_body = {"data": {"team": "red"}, "introReviewed": True}
    http("devicehive-rest-success", *rest, bob, rest_body)
    http("devicehive-rest-bad-token", *rest, jwt(BOB, iat=IAT - 7200, exp=IAT - 3600), rest_body)
    http("devicehive-rest-bad-body", *rest, bob, '{"data":')

    # The audit log: one stream batch in which bob sets his nickname through NEWM. Bad body: a
    # record without its images (a stream that is not NEW_AND_OLD_IMAGES), reported as a failure.
    before = bob_item(3, None, ("2", "unleash", "fixture-before"))
    after = bob_item(4, "Bobby", ("2", "newm", "fixture-newm-patch-user-success"))
    out["audit-log-success"] = stream_event([("MODIFY", before, after)])
    bad = stream_event([("MODIFY", before, after)])
    for image in ("OldImage", "NewImage"):
        del bad["Records"][0]["dynamodb"][image]
    out["audit-log-bad-body"] = bad

    # DeviceHive $connect authorizer: bob's token in ?token=; a garbage bearer header.
    out["devicehive-authorizer-success"] = authorizer_event(
        "devicehive-authorizer-success", query_token=bob
    )
    out["devicehive-authorizer-bad-token"] = authorizer_event(
        "devicehive-authorizer-bad-token", authorization="Bearer garbage.garbage.garbage"
    )
    return out


def main():
    check = "--check" in sys.argv[1:]
    wanted = {f"{n}.json": json.dumps(e, indent=2) + "\n" for n, e in events().items()}
    if check:
        have = {p.name: p.read_text() for p in EVENTS.glob("*.json")} if EVENTS.exists() else {}
        stale = sorted(n for n in wanted.keys() | have.keys() if wanted.get(n) != have.get(n))
        if stale:
            print("events/ is out of date (run scripts/gen-events.py):", *stale, sep="\n  ")
            return 1
        return 0
    EVENTS.mkdir(exist_ok=True)
    for name, text in sorted(wanted.items()):
        (EVENTS / name).write_text(text)
    print(f"wrote {len(wanted)} events to {EVENTS.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
