"""A small CRI v1 client on `grpc.aio` (the kubelet's `cri-client` role).

Calls are built from the method names with the generated message classes
(`_gen/api_pb2.py`), so no grpc-version-pinned service stub is needed. Every
call takes a timeout in seconds; errors surface as `CriError` with the gRPC
status code name and the runtime's message.
"""

from __future__ import annotations

from typing import Any

import grpc
import grpc.aio

from podkeeper.runtime.cri._gen import api_pb2 as pb

RUNTIME = "/runtime.v1.RuntimeService/"
IMAGES = "/runtime.v1.ImageService/"
DEFAULT_TIMEOUT = 120.0  # the kubelet's default runtime-request-timeout (2m)
_MAX_MESSAGE = 16 * 1024 * 1024  # the kubelet's maxMsgSize


class CriError(Exception):
    """A CRI call failed: `code` is the gRPC status name (NOT_FOUND, DEADLINE_EXCEEDED...)."""

    def __init__(self, method: str, code: str, details: str) -> None:
        super().__init__(f"{method}: {code}: {details}")
        self.method = method
        self.code = code
        self.details = details


# method -> (service prefix, response class)
_METHODS: dict[str, tuple[str, Any]] = {
    "Version": (RUNTIME, pb.VersionResponse),
    "Status": (RUNTIME, pb.StatusResponse),
    "RunPodSandbox": (RUNTIME, pb.RunPodSandboxResponse),
    "StopPodSandbox": (RUNTIME, pb.StopPodSandboxResponse),
    "RemovePodSandbox": (RUNTIME, pb.RemovePodSandboxResponse),
    "PodSandboxStatus": (RUNTIME, pb.PodSandboxStatusResponse),
    "ListPodSandbox": (RUNTIME, pb.ListPodSandboxResponse),
    "CreateContainer": (RUNTIME, pb.CreateContainerResponse),
    "StartContainer": (RUNTIME, pb.StartContainerResponse),
    "StopContainer": (RUNTIME, pb.StopContainerResponse),
    "RemoveContainer": (RUNTIME, pb.RemoveContainerResponse),
    "ListContainers": (RUNTIME, pb.ListContainersResponse),
    "ContainerStatus": (RUNTIME, pb.ContainerStatusResponse),
    "ExecSync": (RUNTIME, pb.ExecSyncResponse),
    "ContainerStats": (RUNTIME, pb.ContainerStatsResponse),
    "ReopenContainerLog": (RUNTIME, pb.ReopenContainerLogResponse),
    "ListImages": (IMAGES, pb.ListImagesResponse),
    "ImageStatus": (IMAGES, pb.ImageStatusResponse),
    "PullImage": (IMAGES, pb.PullImageResponse),
    "RemoveImage": (IMAGES, pb.RemoveImageResponse),
}


class CriClient:
    """One gRPC channel to a CRI endpoint (`unix:///path/to.sock`)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._channel: Any = None
        self._calls: dict[str, Any] = {}

    def _open(self) -> Any:
        """The channel, opened on first use (and again after `close`)."""
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                self.endpoint,
                options=[
                    ("grpc.max_receive_message_length", _MAX_MESSAGE),
                    ("grpc.max_send_message_length", _MAX_MESSAGE),
                ],
            )
            self._calls = {}
        return self._channel

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._calls = {}
        if channel is not None:
            await channel.close()

    def _callable(self, method: str) -> Any:
        fn = self._calls.get(method)
        if fn is None:
            prefix, response = _METHODS[method]
            fn = self._open().unary_unary(
                prefix + method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response.FromString,
            )
            self._calls[method] = fn
        return fn

    async def call(self, method: str, request: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Send `request` (an api_pb2 message) to `method`; return the response message."""
        try:
            return await self._callable(method)(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            raise CriError(method, err.code().name, err.details() or "") from None

    # A few typed shortcuts the runtime and CLI use most.

    async def version(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        return await self.call("Version", pb.VersionRequest(version="v1"), timeout)

    async def container_status(self, container_id: str, timeout: float = 10.0) -> Any:
        response = await self.call(
            "ContainerStatus", pb.ContainerStatusRequest(container_id=container_id), timeout
        )
        return response.status

    async def list_images(self) -> list[Any]:
        return list((await self.call("ListImages", pb.ListImagesRequest())).images)

    async def image_status(self, image: str) -> Any | None:
        response = await self.call(
            "ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=image))
        )
        return response.image if response.HasField("image") else None

    async def pull_image(self, image: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        response = await self.call(
            "PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=image)), timeout
        )
        return str(response.image_ref)

    async def remove_image(self, image: str) -> None:
        await self.call("RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=image)))
