"""The kubelet's image decisions and messages (`pkg/kubelet/images/image_manager.go`
`EnsureImageExists`, `pkg/kubelet/images/types.go`), pure.

An image runtime asks `should_pull_image` and `invalid_image_message` before
it pulls, and reports a failure as a waiting reason (`ErrImagePull`,
`ErrImageNeverPull`, `InvalidImageName`) with the image manager's events; the
pod machine backs failed pulls off (`ImagePullBackOff`, 10 s doubling to
300 s, keyed `<pod uid>_<image>` as `backOffKey`).
"""

from __future__ import annotations

import re

from podkeeper.core.events import NORMAL, WARNING

ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
INVALID_IMAGE_NAME = "InvalidImageName"
#: Waiting reasons of a container whose image is not there (kubelet `images/types.go`).
IMAGE_WAITING_REASONS = frozenset(
    {ERR_IMAGE_PULL, IMAGE_PULL_BACK_OFF, ERR_IMAGE_NEVER_PULL, INVALID_IMAGE_NAME}
)

Event = tuple[str, str, str]

# github.com/distribution/reference regexp.go, condensed: [domain/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


def should_pull_image(policy: str, present: bool) -> bool:
    """`shouldPullImage`: Never never pulls, Always always does, IfNotPresent when absent."""
    if policy == "Never":
        return False
    if policy == "Always":
        return True
    return not present


def invalid_image_message(image: str) -> str | None:
    """The `InvalidImageName` message for an image reference that does not parse, else None
    (`applyDefaultImageTag` wrapping `reference.ParseNormalizedNamed`)."""
    # splitDockerDomain: the first part is a registry only with a "." or ":" or as localhost;
    # else the name is on docker.io, under library/ when it has no "/".
    first, _, rest = image.partition("/")
    has_domain = bool(rest) and ("." in first or ":" in first or first == "localhost")
    remote = rest if has_domain else image
    remote = remote.split("@", 1)[0].split(":", 1)[0]
    if not has_domain and "/" not in remote:
        remote = "library/" + remote
    if _REFERENCE.match(image) and remote == remote.lower():
        return None
    why = "invalid reference format"
    if remote != remote.lower() and _REFERENCE.match(image.lower()):
        why = f"invalid reference format: repository name ({remote}) must be lowercase"
    return (
        f"Failed to apply default image tag {_q(image)}: couldn't parse image name "
        f"{_q(image)}: {why}"
    )


def invalid_image_event(message: str) -> Event:
    return WARNING, "InspectFailed", message  # events.FailedToInspectImage


def never_pull_message(image: str) -> str:
    return f"Container image {_q(image)} is not present with pull policy of Never"


def never_pull_event(image: str) -> Event:
    return WARNING, "ErrImageNeverPull", never_pull_message(image)  # ErrImageNeverPullPolicy


def pulling_event(image: str) -> Event:
    return NORMAL, "Pulling", f"Pulling image {_q(image)}"


def pull_failed_event(image: str, error: str) -> Event:
    return WARNING, "Failed", f"Failed to pull image {_q(image)}: {error}"  # FailedToPullImage


def back_off_message(image: str) -> str:
    return f"Back-off pulling image {_q(image)}"


def back_off_event(image: str) -> Event:
    return NORMAL, "BackOff", back_off_message(image)  # events.BackOffPullImage


def _q(text: str) -> str:
    """Go's %q for image names (plain ASCII in practice)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
