#!/usr/bin/env python3
"""mkmany.py: berth-test/many, an oci-archive with the busybox base layer and
N more layers (default 299: 300 in all), for the long-lowerdir rootfs test.
Layer i adds /layers/NNN and rewrites /layers/top with i, so the mounted
root must show every /layers/NNN and top = N (the uppermost layer wins).

    mkmany.py --busybox /bin/busybox --out DIR [--layers N]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage as m  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--busybox", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--layers", type=int, default=299)
    p.add_argument("--epoch", type=int)
    a = p.parse_args()
    try:
        epoch = m.resolve_epoch(a.epoch)
        busybox = m.read_input(a.busybox, "busybox binary")
        arch = m.elf_arch(a.busybox, busybox)
        layers = [m.Layer.from_entries(m.base_entries(busybox), epoch, "busybox base")]
        for i in range(1, a.layers + 1):
            layers.append(m.Layer.from_entries([
                m.directory("layers"),
                m.file(f"layers/{i:03d}", f"{i}\n".encode()),
                m.file("layers/top", f"{i}\n".encode()),
            ], epoch, f"layer {i}"))
        img = m.Image("berth-test/many", "latest", layers,
                      {"Entrypoint": ["/bin/sh"], "Env": [m.DEFAULT_PATH]}, epoch, arch)
        os.makedirs(a.out, exist_ok=True)
        m.write_atomic(os.path.join(a.out, "many.oci.tar"), m.oci_archive(img))
    except m.BuildError as e:
        print(f"mkmany.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
