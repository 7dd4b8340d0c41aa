"""Moving images in and out: `docker save`/`load` archives (legacy docker-archive, Docker ≥ 25's combined layout,
oci-archive), `docker import` of a rootfs tarball, and the ImageSource protocol they share (see sources.py)."""
