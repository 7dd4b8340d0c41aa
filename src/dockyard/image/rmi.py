"""`docker rmi` semantics over the image store: untag or delete, and Docker's conflict rules and messages.

Follows moby's classic daemon/images/image_delete.go: a name removes that name (and the repository's digest
names once no tag of it is left), deleting the image only when it was the last name; an ID deletes the image,
refused while other repositories still name it or a container uses it unless forced; a running container's
image can never be deleted. Parent/child images are not modelled yet. Blobs and snapshots go with `gc.collect`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import Conflict
from dockyard.image.store import ImageStore, normalize_name
from dockyard.oci.digest import Digest
from dockyard.oci.reference import Reference


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageUser:
    """A container and the image it was created from."""

    container_id: str
    image_id: Digest
    running: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteItem:
    """One line of `docker rmi` output: `Untagged: busybox:latest` or `Deleted: sha256:…`."""

    untagged: str = ""
    deleted: str = ""


def _is_id_prefix(image_id: Digest, ref: str) -> bool:
    return str(image_id).startswith(ref) or image_id.hex.startswith(ref)


def _names_of(store: ImageStore, image_id: Digest) -> list[Reference]:
    names, records = store.references()
    record = records.get(image_id)
    if record is None:
        return []
    return sorted((normalize_name(n) for n, m in names.items() if m == record.manifest), key=str)


def _single_reference(refs: list[Reference]) -> bool:
    """At most one tag, and every name in that one repository (moby's isSingleReference)."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [r for r in refs if r.digest is None]
    if len(tags) > 1:
        return False
    repos = {r.name for r in refs if r.digest is not None}
    single = tags[0] if tags else refs[0]
    return len(repos) == 1 and single.name in repos


def _conflict(image_id: Digest, users: Sequence[ImageUser], *, soft: bool, references: bool) -> Conflict | None:
    short = image_id.hex[:12]
    running = next((u for u in users if u.image_id == image_id and u.running), None)
    if running is not None:
        return Conflict(
            f"conflict: unable to delete {short} (cannot be forced) - image is being used by running container"
            f" {running.container_id[:12]}"
        )
    if soft and references:
        return Conflict(
            f"conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        )
    stopped = next((u for u in users if u.image_id == image_id), None)
    if soft and stopped is not None:
        return Conflict(
            f"conflict: unable to delete {short} (must be forced) - image is being used by stopped container"
            f" {stopped.container_id[:12]}"
        )
    return None


def remove_image(
    store: ImageStore, ref: str, *, force: bool = False, users: Sequence[ImageUser] = ()
) -> list[DeleteItem]:
    """Untag and/or delete what `ref` names (see the module docstring); returns the rmi output lines."""
    image_id = store.resolve_id(ref)
    items: list[DeleteItem] = []
    if not _is_id_prefix(image_id, ref):
        user = next((u for u in users if u.image_id == image_id), None)
        if user is not None and not force and _single_reference(_names_of(store, image_id)):
            raise Conflict(
                f'conflict: unable to remove repository reference "{ref}" (must force) - container'
                f" {user.container_id[:12]} is using its referenced image {image_id.hex[:12]}"
            )
        name = normalize_name(ref)
        store.untag(name.string())
        items.append(DeleteItem(untagged=name.familiar_string()))
        remaining = _names_of(store, image_id)
        if name.digest is None and not any(r.name == name.name and r.digest is None for r in remaining):
            for digest_ref in [r for r in remaining if r.name == name.name]:
                store.untag(digest_ref.string())
                items.append(DeleteItem(untagged=digest_ref.familiar_string()))
        if _names_of(store, image_id):
            return items
        if _conflict(image_id, users, soft=not force, references=False) is not None:
            return items  # the name is gone; the image stays for the container that uses it (quiet, as moby)
    else:
        refs = _names_of(store, image_id)
        if _single_reference(refs):
            problem = _conflict(image_id, users, soft=not force, references=False)
            if problem is not None:
                raise problem
            for r in refs:
                store.untag(r.string())
                items.append(DeleteItem(untagged=r.familiar_string()))
        problem = _conflict(image_id, users, soft=not force, references=bool(_names_of(store, image_id)))
        if problem is not None:
            raise problem
    items.extend(DeleteItem(untagged=n) for n in store.delete(image_id))
    items.append(DeleteItem(deleted=str(image_id)))
    return items
