"""``pbctl staff-token``: sign a staff member in and print the access token.

Calls Cognito's InitiateAuth (USER_PASSWORD_AUTH) with the stage's staff
console client and prints the access token alone, for
``Authorization: Bearer``. The password comes from ``--password``, else
``PB_STAFF_PASSWORD``, else a prompt. Only against a local moto server
(``--endpoint-url``, as ``make up`` prints it): a real pool's members sign
in through the staff console, with MFA where the office turns it on.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from botocore.exceptions import BotoCoreError, ClientError

from pbctl.exitcodes import OK, REFUSED, classify
from pbctl.operator import TargetError, connect, fail

DEFAULT_ENDPOINT = "http://127.0.0.1:5000"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "staff-token", help="sign in to the local staff pool; print the access token"
    )
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", help="default: $PB_STAFF_PASSWORD or a prompt")
    parser.add_argument("--stage", default="dev", choices=("dev", "prod"))
    parser.add_argument(
        "--endpoint-url",
        default=DEFAULT_ENDPOINT,
        help=f"the local moto server (default {DEFAULT_ENDPOINT})",
    )
    parser.set_defaults(handler=run)


def sign_in(cognito, client_id: str, username: str, password: str) -> str:
    """The access token of a USER_PASSWORD_AUTH sign-in."""
    answer = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    if "AuthenticationResult" not in answer:
        raise TargetError(f"sign-in needs {answer.get('ChallengeName')}")
    return answer["AuthenticationResult"]["AccessToken"]


def run(args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("PB_STAFF_PASSWORD")
    if not password:
        password = getpass.getpass(f"Password for {args.username}: ")
    try:
        target = connect(args.stage, args.endpoint_url)
        token = sign_in(
            target.client("cognito-idp"),
            target.outputs["UserPoolClientId"],
            args.username,
            password,
        )
    except (TargetError, BotoCoreError) as exc:
        return fail("staff-token", exc)
    except KeyError as exc:
        print(f"pbctl staff-token: the stack has no output {exc}", file=sys.stderr)
        return REFUSED
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        print(f"pbctl staff-token: sign-in refused ({code})", file=sys.stderr)
        return classify(exc)
    print(token)
    return OK
