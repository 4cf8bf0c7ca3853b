"""The emulated container images and how an image reference picks one."""

from __future__ import annotations

from ..spec import ContainerView, image_repository
from .base import ContainerImage, StopMode
from .echo_basic import EchoBasic
from .generic import GenericEcho
from .hello import NginxHello

__all__ = ["ContainerImage", "StopMode", "EchoBasic", "GenericEcho", "NginxHello",
           "select_image"]

# Repository (registry host dropped) -> the port the image's nginx listens on.
_HELLO_REPOSITORIES = {
    "nginxdemos/hello": 80,
    # nginxinc/nginx-hello builds on nginx-unprivileged, which listens on 8080.
    "nginxdemos/nginx-hello": 8080,
}
# echo-basic has been published under several registries and project paths.
_ECHO_BASIC_SUFFIX = "/echo-basic"
# Modes of the same binary that serve gRPC, raw TCP or UDP instead of HTTP.
_NON_HTTP_ECHO_ENV = ("GRPC_ECHO_SERVER", "TCP_ECHO_SERVER", "UDP_ECHO_SERVER")


def _tag(image: str) -> str:
    ref = image.split("@", 1)[0]
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return ref[colon + 1:] if colon > slash else "latest"


def select_image(container: ContainerView, *, default_port_free: bool = True
                 ) -> ContainerImage:
    """The emulation for `container.image`; GenericEcho (kind "generic") when unknown.

    `default_port_free` tells whether port 80 is still unclaimed in the pod, so that a
    portless sidecar does not collide with the main container's port.
    """
    repo = image_repository(container.image)
    if repo in _HELLO_REPOSITORIES and "plain-text" in _tag(container.image):
        return NginxHello(container, port=_HELLO_REPOSITORIES[repo])
    if repo.endswith(_ECHO_BASIC_SUFFIX):
        env = container.env()
        if not any(env.get(name) for name in _NON_HTTP_ECHO_ENV):
            return EchoBasic(container)
        generic = GenericEcho(container, default_port=None)
        generic.note = "echo-basic in gRPC/TCP/UDP mode is emulated as an HTTP echo"
        return generic
    generic = GenericEcho(container, default_port=80 if default_port_free else None)
    if repo in _HELLO_REPOSITORIES:
        generic.note = f"only the plain-text variant of {repo} is emulated exactly"
    return generic
