"""API errors and the metav1.Status objects kube-apiserver answers them with.

Messages are worded as `k8s.io/apimachinery/pkg/api/errors` words them, because clients
(and users reading kubectl's output) match on them.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceType


class ApiError(Exception):
    """An error answered as a Status object with an HTTP code."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # omitempty: errors that are no Status have no reason
            body["reason"] = self.reason
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(rt: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.group_resource} "{name}" not found',
                    _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{rt.group_resource} "{name}" already exists',
                    _details(rt, name))


def conflict(rt: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict",
                    f'Operation cannot be fulfilled on {rt.group_resource} "{name}": {why}',
                    _details(rt, name))


def storage_invalid_object(key: str, message: str) -> str:
    """The text of etcd3 storage's InvalidObj error (a failed precondition), which a
    Conflict Status carries as its reason."""
    return (f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, "
            f"AdditionalErrorMsg: {message}")


STALE_OBJECT = ("the object has been modified; please apply your changes to the latest "
                "version and try again")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(rt: ResourceType, name: str, why: str) -> ApiError:
    subject = f'{rt.group_resource} "{name}"' if name else rt.group_resource
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {why}", _details(rt, name))


def invalid(rt: ResourceType, name: str, errors: list) -> ApiError:
    """422 Invalid with one cause per field error (apierrors.NewInvalid)."""
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.kind
    return invalid_status(rt.qualified_kind, name, errors, details)


def invalid_status(qualified_kind: str, name: str, errors: list, details: dict[str, Any]
                   ) -> ApiError:
    """apierrors.NewInvalid: `details` (name, group, kind as far as set) gets the causes."""
    from .validation import invalid_message

    details["causes"] = [e.cause() for e in errors]
    return ApiError(422, "Invalid", invalid_message(qualified_kind, name, errors), details)


def internal_error(message: str) -> ApiError:
    """An error the handler got that is not a Status (ErrorToAPIStatus): 500, no reason."""
    return ApiError(500, "", message)


def patch_not_decodable(patched: str, why: str) -> ApiError:
    """A patch whose result does not decode into the kind's Go struct: 422 Invalid on field
    "patch" of an object of no kind and no name (applyPatchToCurrentObject in patch.go);
    `patched` is the patched document (JSON and merge patches) or the patch (strategic)."""
    from .validation.field import INVALID, FieldError

    error = FieldError(INVALID, "patch", patched, why)
    return invalid_status("", "", [error], {})


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def gone_resource_version(requested: int, oldest: int) -> ApiError:
    """What a watch from a compacted resourceVersion gets (an ERROR event in the stream)."""
    return expired(f"too old resource version: {requested} ({oldest})")


def method_not_allowed(message: str = "the server does not allow this method on the requested "
                       "resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media types '
                    f'include: application/json-patch+json, application/merge-patch+json, '
                    f'application/apply-patch+yaml, application/strategic-merge-patch+json '
                    f'(got "{content_type}")')


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def not_acceptable(accept: str) -> ApiError:
    return ApiError(406, "NotAcceptable",
                    f"only the following media types are accepted: application/json, "
                    f"application/yaml (got {accept!r})")


def timeout(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(504, "Timeout", message, {"retryAfterSeconds": retry_after})


class PathNotFound(ApiError):
    """A path no route serves: kube-apiserver answers a plain-text 404, not a Status."""

    def __init__(self, path: str) -> None:
        super().__init__(404, "NotFound", "404 page not found", {"path": path})


def path_not_found(path: str) -> PathNotFound:
    return PathNotFound(path)
