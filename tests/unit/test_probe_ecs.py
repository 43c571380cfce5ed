from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from soci_ci.errors import AwsError
from soci_ci.probe.ecs import Retrier, is_throttle


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "RunTask")


def test_throttle_detection_on_real_botocore_errors() -> None:
    assert is_throttle(client_error("ThrottlingException", "Rate exceeded"))
    assert is_throttle(
        client_error(
            "InvalidParameterException",
            "Error retrieving subnet information for [subnet-1]: Rate exceeded",
        )
    )
    assert not is_throttle(client_error("InvalidParameterException", "No Container Instances"))
    assert not is_throttle(ValueError("x"))


def test_backoff_is_capped_and_jittered() -> None:
    delays: list[float] = []
    failures = iter([client_error("ThrottlingException")] * 6)

    def call() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "done"

    retrier = Retrier(sleep=delays.append, budget=6, base=1.0, cap=5.0, rng=random.Random(7))
    assert retrier.call("RunTask", call) == "done"
    ceilings = [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert len(delays) == 6
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_errors_are_translated() -> None:
    retrier = Retrier(sleep=lambda s: None, budget=1)

    def denied() -> None:
        raise client_error(
            "AccessDeniedException", "User is not authorized to perform: ecs:RunTask"
        )

    with pytest.raises(AwsError) as caught:
        retrier.call("RunTask", denied)
    assert str(caught.value) == (
        "RunTask failed: AccessDeniedException: User is not authorized to perform: ecs:RunTask"
    )
    assert caught.value.throttled is False

    def offline() -> None:
        raise EndpointConnectionError(endpoint_url="https://ecs.us-east-1.amazonaws.com/")

    with pytest.raises(
        AwsError, match=r"DescribeTasks: no answer after 2 attempts .Could not connect"
    ):
        retrier.call("DescribeTasks", offline)

    def bug() -> None:
        raise KeyError("taskArn")

    with pytest.raises(KeyError):
        retrier.call("RunTask", bug)


def http_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "RunTask",
    )


@pytest.mark.parametrize(
    "error",
    [
        client_error("ThrottlingException", "Rate exceeded"),
        client_error("Throttling", "Rate exceeded"),
        http_error("TooManyRequestsException", "Too many requests", 429),
        client_error("RequestLimitExceeded", "Request limit exceeded."),
        client_error(
            "InvalidParameterException",
            "Error retrieving subnet information for [subnet-0abc]: Request limit exceeded "
            "(RequestLimitExceeded)",
        ),
        client_error("ClientException", "Rate exceeded"),
        http_error("SomethingNew", "", 429),
    ],
    ids=lambda e: f"{e.response['Error']['Code']}",
)
def test_every_real_throttling_form(error: ClientError) -> None:
    assert is_throttle(error)


def test_lost_answers_and_real_failures() -> None:
    from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

    from soci_ci.probe.ecs import is_lost_answer

    assert is_lost_answer(http_error("ServerException", "Service unavailable", 500))
    assert is_lost_answer(http_error("ServiceUnavailableException", "", 503))
    assert is_lost_answer(ReadTimeoutError(endpoint_url="https://ecs.us-east-1.amazonaws.com/"))
    assert is_lost_answer(
        ConnectionClosedError(endpoint_url="https://ecs.us-east-1.amazonaws.com/")
    )
    denied = client_error("AccessDeniedException", "not authorized")
    assert not is_lost_answer(denied) and not is_throttle(denied)
    subnet = client_error("InvalidParameterException", "subnet-0abc does not exist")
    assert not is_lost_answer(subnet) and not is_throttle(subnet)
