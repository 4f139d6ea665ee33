#!/usr/bin/env python3
"""Build a multi-platform OCI layout for the registry tests: an image index
with berth-test/helper as linux/amd64 and berth-test/web, its config
relabelled linux/arm64, as the second platform. Usage:
mkindex.py HELPER.oci.tar WEB.oci.tar OUTDIR  (then skopeo copy --all oci:OUTDIR:multi ...)"""
import hashlib, json, os, sys, tarfile


def blobs_of(path):
    out = {}
    with tarfile.open(path) as t:
        for m in t.getmembers():
            if m.isfile():
                out[m.name] = t.extractfile(m).read()
    return out


def put(outdir, data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(outdir, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h


def manifest_of(files):
    idx = json.loads(files["index.json"])
    d = idx["manifests"][0]
    return d, json.loads(files["blobs/sha256/" + d["digest"][7:]])


def main():
    helper, web, outdir = sys.argv[1:4]
    os.makedirs(os.path.join(outdir, "blobs", "sha256"), exist_ok=True)
    entries = []
    for path, arch in ((helper, "amd64"), (web, "arm64")):
        files = blobs_of(path)
        for name, data in files.items():
            if name.startswith("blobs/sha256/"):
                put(outdir, data)
        d, man = manifest_of(files)
        cfg = json.loads(files["blobs/sha256/" + man["config"]["digest"][7:]])
        cfg["architecture"] = arch
        cfg_bytes = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
        man["config"]["digest"] = put(outdir, cfg_bytes)
        man["config"]["size"] = len(cfg_bytes)
        man_bytes = json.dumps(man, sort_keys=True, separators=(",", ":")).encode()
        entries.append({"mediaType": man.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
                        "digest": put(outdir, man_bytes), "size": len(man_bytes),
                        "platform": {"os": "linux", "architecture": arch}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": entries}
    ib = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    top = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(outdir, ib),
        "size": len(ib), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}
    with open(os.path.join(outdir, "index.json"), "w") as f:
        json.dump(top, f)
    with open(os.path.join(outdir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    print(entries[0]["digest"], entries[1]["digest"], "sha256:" + hashlib.sha256(ib).hexdigest())


if __name__ == "__main__":
    main()
