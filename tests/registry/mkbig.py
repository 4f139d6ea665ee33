#!/usr/bin/env python3
"""Build an OCI layout with one image whose single layer is large and
incompressible (random bytes in a plain tar layer), for the test that kills
the registry mid-blob: a blob larger than loopback's socket buffers, so the
registry is still writing it when it dies. Deterministic for a seed.
Usage: mkbig.py OUTDIR MIB [SEED]  (then skopeo copy oci:OUTDIR:big ...)"""
import hashlib, io, json, os, random, sys, tarfile


def put(outdir, data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(outdir, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h, len(data)


def main():
    outdir, mib = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    os.makedirs(os.path.join(outdir, "blobs", "sha256"), exist_ok=True)
    rnd = random.Random(seed)
    payload = rnd.randbytes(mib << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("big.bin")
        ti.size = len(payload)
        ti.mtime = 0
        t.addfile(ti, io.BytesIO(payload))
    layer = buf.getvalue()
    ldig, lsize = put(outdir, layer)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/big.bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [ldig]}}, sort_keys=True).encode()
    cdig, csize = put(outdir, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cdig, "size": csize},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": ldig, "size": lsize}]}, sort_keys=True).encode()
    mdig, msize = put(outdir, manifest)
    with open(os.path.join(outdir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdig, "size": msize,
             "annotations": {"org.opencontainers.image.ref.name": "big"}}]}, f)
    with open(os.path.join(outdir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(ldig[7:], lsize)


main()
