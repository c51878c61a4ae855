"""DeviceHive's published Python client (the `devicehive` package), used as its README shows,
against this project's DeviceHive API: one scenario per run, its outcome as one JSON line.

usage: devicehive_client.py URL TOKEN SCENARIO [ARGS...]
  URL       ws://HOST:PORT/ws (WebSocket transport) or http://HOST:PORT/api/rest (HTTP transport)
  TOKEN     an access token (JWT)
scenarios:
  admin-save USER_ID ROLE STATUS DATA_JSON NEW_PASSWORD
            an administrator reads the user, sets role, status and data, `save()`s it, then
            `update_password()`s it
  own-password NEW_PASSWORD
            the caller reads itself and `update_password()`s itself
  own-role ROLE
            the caller reads itself, sets its own role and `save()`s: a client is refused

Prints {"ok": {...}} or {"refused": {"code": ..., "error": ...}} and exits 0; any other failure
(a transport error, a malformed answer, a timeout) is a traceback and exit status 1.
"""

import json
import os
import sys
import threading

from devicehive import DeviceHive, Handler
from devicehive.api_request import ApiResponseError


class Scenario(Handler):
    def __init__(self, api, steps):
        Handler.__init__(self, api)
        self.steps = steps
        self.outcome = None
        self.error = None

    def handle_connect(self):
        try:
            self.outcome = self.steps(self.api)
        except ApiResponseError as e:
            self.outcome = {"refused": {"code": e.code, "error": e.error}}
        except BaseException as e:  # re-raised on the main thread
            self.error = e
        finally:
            self.api.disconnect()


def admin_save(user_id, role, status, data, new_password):
    def steps(api):
        user = api.get_user(int(user_id))
        user.role = int(role)
        user.status = int(status)
        user.data = json.loads(data)
        user.save()
        user.update_password(new_password)
        again = api.get_user(int(user_id))
        return {"ok": {"role": again.role, "status": again.status, "data": again.data}}

    return steps


def own_password(new_password):
    def steps(api):
        user = api.get_current_user()
        user.update_password(new_password)
        return {"ok": {"id": user.id, "login": user.login}}

    return steps


def own_role(role):
    def steps(api):
        user = api.get_current_user()
        user.role = int(role)
        user.save()
        return {"ok": {"id": user.id}}

    return steps


SCENARIOS = {"admin-save": admin_save, "own-password": own_password, "own-role": own_role}


def main():
    url, token, scenario, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    dh = DeviceHive(Scenario, SCENARIOS[scenario](*args))
    options = {"access_token": token, "transport_alive_sleep_time": 0.01}
    # Raise a transport error at once instead of reconnecting ten times.
    options.update(max_num_connect=0, connect_timeout=10**9)
    # The client waits for every answer; a silent server must fail the run, not hang it.
    watchdog = threading.Timer(60, lambda: (print("timed out", file=sys.stderr), os._exit(1)))
    watchdog.daemon = True
    watchdog.start()
    dh.connect(url, **options)
    watchdog.cancel()
    handler = dh.handler
    if handler.error is not None:
        raise handler.error
    if handler.outcome is None:
        raise SystemExit("the scenario did not run")
    print(json.dumps(handler.outcome))


if __name__ == "__main__":
    main()
