"""A Docker engine inside a VM on Linux: what Docker Toolbox is, built from this host's own packages.

`isobench vm up|down|status`. The boot image is the host's kernel (linux-image-amd64) with an
initramfs holding busybox-static, dockerd, containerd and runc from docker.io, and their shared
libraries: nothing is downloaded. qemu boots it with KVM where KVM boots, TCG otherwise (the
accelerator is recorded); dockerd inside listens on tcp with TLS (certificates generated per VM,
docker-machine's layout) forwarded to a loopback port. All state lives in one directory
(bench.core.paths.VM_DIR).

The package: ``state`` (what a running VM is, on disk), ``certs`` (its TLS material),
``bootimage`` (the initramfs from host packages), ``qemu`` (booting, stopping, owning).
"""
