#!/usr/bin/env python3
"""mkevil.py: berth's malicious image suite, as oci-archives and docker-archives.

    mkevil.py --busybox /bin/busybox --out DIR [--epoch N]

Each archive is a valid-looking image (a small root-owned base layer, an
image config, a manifest) with exactly one malicious or broken thing in it:
a layer that climbs out of its directory, writes through a symlink, links to
a file outside, carries a device node or a bomb, a blob that lies about its
digest, size or media type, JSON that does not parse, an index with no image
for this platform, an outer archive member that leaves the archive... Every
one of them must be refused by `berth image import` with an error naming the
reason, and leave nothing behind (tests/images/test_evil.py, tests/vm/cases/
images_malicious.sh; docs/images.md, "Malicious images").

Output in DIR:
  NN-<name>.oci.tar / NN-<name>.docker.tar   the malicious archives
  clean.oci.tar, clean.docker.tar            controls from the same generator: must import
  expect.json   {"cases": {file: {"what", "error", "args", "outside"}},
                 "controls": [file...], "outside": [every absolute path any case aims at],
                 "unchanged": [existing host files a case aims at]}
                "error" is a substring the import error must contain (it
                names the entry, member or digest and the reason); "args" go
                between `image import` and the file.
  expect.txt    the same for busybox sh, one case per line:
                FILE|ARGS (space-separated, may be empty)|ERROR SUBSTRING
                and lines "outside|PATH", "unchanged|PATH", "control|FILE".

Relative escapes are aimed at the test's sentinel: the store unpacks a layer
in <state>/images/tmp/layer-*, so four ".." from the layer root reach the
directory holding <state>, where the tests keep outside/sentinel.
Only the Python standard library is used.
"""

import argparse
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage as mk  # noqa: E402

# Absolute paths the archives aim at. Fixed, so the tests can look for them.
TAG = "5d1c"
ABS = f"/berth-evil-abs-{TAG}"
LINK_TARGET = f"/berth-evil-link-{TAG}"
DOTDOT_DEEP = f"/berth-evil-dotdot-{TAG}"
DIGEST_PATH = f"/berth-evil-digest-{TAG}"
PASSWD = "/etc/passwd"

# From the layer root (<state>/images/tmp/layer-*): <state>/.. where the
# tests keep outside/sentinel.
UP4 = "../../../.."

LIMIT = 1 << 20    # --max-layer-bytes for the bomb and the oversized entry


# ------------------------------------------------------------ building blocks

def base_layer(epoch):
    """A small, clean, root-owned first layer: every evil image has one, so a
    refused import must also remove a layer it had already unpacked."""
    return mk.Layer.from_entries([
        mk.directory("bin"), mk.directory("tmp", 0o1777), mk.directory("srv"),
        mk.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        mk.file("etc/group", "root:x:0:\n"),
        mk.symlink("bin/sh", "busybox"),
    ], epoch, "evil base")


def evil_layer(entries, epoch, comment="evil"):
    """Entries exactly as given: no path checks, no parents, no sorting."""
    return mk.Layer.from_entries(entries, epoch, comment, normalize=False)


def image(name, layers, epoch, arch):
    return mk.Image(f"berth-evil/{name}", "latest", layers,
                    {"Cmd": ["/bin/sh"], "Env": [mk.DEFAULT_PATH]}, epoch, arch)


def with_base(name, entries, epoch, arch):
    return image(name, [base_layer(epoch), evil_layer(entries, epoch)], epoch, arch)


def desc(media_type, data, **extra):
    d = {"mediaType": media_type, "digest": mk.sha256_digest(data), "size": len(data)}
    d.update(extra)
    return d


def manifest_doc(config_bytes, layers, media_type=mk.MT_OCI_MANIFEST, layer_types=None):
    lds = []
    for i, l in enumerate(layers):
        d = l.descriptor()
        if layer_types and layer_types[i]:
            d["mediaType"] = layer_types[i]
        lds.append(d)
    return mk.canonical_json({
        "schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": mk.MT_OCI_CONFIG, "digest": mk.sha256_digest(config_bytes),
                   "size": len(config_bytes)},
        "layers": lds,
    })


def layout(manifests, blobs):
    """An OCI layout: index.json listing `manifests` (descriptors), blobs by digest."""
    files = {"oci-layout": mk.canonical_json({"imageLayoutVersion": "1.0.0"})}
    for b in blobs:
        files[f"blobs/sha256/{mk.sha256_hex(b)}"] = b
    files["index.json"] = mk.canonical_json({
        "schemaVersion": 2, "mediaType": mk.MT_OCI_INDEX, "manifests": manifests})
    return files


def layout_of(img, manifest=None, config=None):
    """img's layout, optionally with other manifest/config bytes (correctly
    referenced: the descriptor matches whatever bytes are given)."""
    config = img.config_bytes() if config is None else config
    manifest = manifest_doc(config, img.layers) if manifest is None else manifest
    ann = {mk.ANN_REF_NAME: img.ref}
    return layout([desc(mk.MT_OCI_MANIFEST, manifest, annotations=ann)],
                  [manifest, config] + [l.blob for l in img.layers])


def outer(files, epoch, first=(), last=()):
    """Outer archive bytes from {path: bytes}, with raw members (links,
    FIFOs, bad names) before and after the files, exactly as given."""
    entries = list(first) + [mk.file(p, d) for p, d in files.items()] + list(last)
    return mk.tar_bytes(entries, epoch, normalize=False)


def other_arches(arch):
    return [a for a in ("arm64", "s390x", "ppc64le") if a != arch][:2]


# ------------------------------------------------------------------ the cases

class Case:
    """build(epoch, arch) returns the archive bytes, or (bytes, error) when
    the expected error quotes digests only known once the archive is made."""
    def __init__(self, name, fmt, what, error, build, args=(), outside=(), unchanged=()):
        self.name, self.fmt, self.what, self.error = name, fmt, what, error
        self.build, self.args = build, list(args)
        self.outside, self.unchanged = list(outside), list(unchanged)


def layer_case(name, fmt, what, error, entries, **kw):
    """A case whose only fault is in the second layer."""
    def build(epoch, arch):
        img = with_base(name, entries, epoch, arch)
        return archive_of(img, fmt, epoch)
    return Case(name, fmt, what, error, build, **kw)


def archive_of(img, fmt, epoch):
    if fmt == "oci":
        return mk.archive_bytes(mk.oci_layout_files(img), epoch)
    return mk.archive_bytes(mk.docker_archive_files(img), epoch)


def zeros_files(n, size):
    return [mk.file(f"bomb/{i:04d}", b"\0" * size) for i in range(n)]


def cases(busybox, arch):
    """Every case; arch is the images' (and the test host's) architecture."""
    c = []
    E = mk.Entry

    # --- traversal
    c.append(layer_case("dotdot", "oci", "layer entry ../escape",
                        'layer entry ../escape: name has a ".." component',
                        [mk.file("../escape", "x")]))
    c.append(layer_case("dotdot-inner", "docker",
                        "layer entry a/../../../../../outside/escape (lands on the sentinel dir)",
                        'layer entry a/../../../../../outside/escape: name has a ".." component',
                        [mk.file("a/../../../../../outside/escape", "x")]))
    deep = "../" * 40 + DOTDOT_DEEP.lstrip("/")
    c.append(layer_case("dotdot-deep", "oci", f"layer entry ../ x 40 + {DOTDOT_DEEP[1:]} (host /)",
                        f'{DOTDOT_DEEP[1:]}: name has a ".." component',
                        [mk.file(deep, "x")], outside=[DOTDOT_DEEP]))
    c.append(layer_case("absolute", "docker", f"layer entry {ABS}",
                        f"layer entry {ABS}: name is an absolute path",
                        [mk.file(ABS, "x")], outside=[ABS]))
    c.append(layer_case("pax-path", "oci",
                        f"PAX path record {UP4}/outside/pax-escape over the ustar name 'innocent'",
                        f'layer entry {UP4}/outside/pax-escape: name has a ".." component',
                        [E("innocent", data=b"x", pax={"path": UP4 + "/outside/pax-escape"})]))

    # --- symlinks, then through them
    c.append(layer_case("symlink-abs-write", "docker",
                        f"symlink link -> {LINK_TARGET}, then link/file",
                        "layer entry link/file: link is a symlink: entries are never unpacked through symlinks",
                        [mk.symlink("link", LINK_TARGET), mk.file("link/file", "x")],
                        outside=[LINK_TARGET]))
    c.append(layer_case("symlink-up-write", "oci",
                        "symlink up -> ../../.., then up/escape",
                        "layer entry up/escape: up is a symlink: entries are never unpacked through symlinks",
                        [mk.symlink("up", "../../.."), mk.file("up/escape", "x")]))
    c.append(layer_case("symlink-sentinel-write", "docker",
                        f"symlink out -> {UP4}/outside (the sentinel dir), then out/escape",
                        "layer entry out/escape: out is a symlink: entries are never unpacked through symlinks",
                        [mk.symlink("out", UP4 + "/outside"), mk.file("out/escape", "x")]))
    c.append(layer_case("symlink-opaque", "oci",
                        f"symlink out -> {UP4}/outside, then out/.wh..wh..opq (an xattr on the sentinel dir)",
                        "layer entry out/.wh..wh..opq: out is a symlink",
                        [mk.symlink("out", UP4 + "/outside"), mk.opaque("out")]))
    c.append(layer_case("symlink-root-hardlink", "oci",
                        "symlink root -> /, then hardlink x -> root/etc/passwd",
                        "layer entry x: hardlink target root/etc/passwd is not an entry unpacked earlier in this layer",
                        [mk.symlink("root", "/"), mk.hardlink("x", "root/etc/passwd")],
                        unchanged=[PASSWD]))

    # --- hardlinks out
    c.append(layer_case("hardlink-out", "docker",
                        f"hardlink x -> {UP4}/outside/sentinel",
                        'layer entry x: hardlink target has a ".." component',
                        [mk.hardlink("x", UP4 + "/outside/sentinel")]))
    c.append(layer_case("hardlink-abs", "oci", "hardlink x -> /etc/passwd",
                        "layer entry x: hardlink target is an absolute path",
                        [mk.hardlink("x", PASSWD)], unchanged=[PASSWD]))

    # --- whiteouts
    c.append(layer_case("whiteout-dotdot", "oci", "whiteout ../.wh.x",
                        'layer entry ../.wh.x: name has a ".." component',
                        [mk.file("../.wh.x", "")]))
    c.append(layer_case("whiteout-dir", "docker", "whiteout .wh.../x (a whiteout of '..' used as a directory)",
                        "layer entry .wh.../x: a whiteout name is used as a directory",
                        [mk.file(".wh.../x", "")]))
    c.append(layer_case("whiteout-of-dotdot", "oci", "whiteout srv/.wh... (of srv/..)",
                        'layer entry srv/.wh...: whiteout of ".." would not name a file in its directory',
                        [mk.file("srv/.wh...", "")]))

    # --- device nodes, reserved xattrs
    c.append(layer_case("chardev", "docker", "character device dev/mem (1:1)",
                        "layer entry dev/mem: device nodes are not allowed in images",
                        [mk.directory("dev"), E("dev/mem", "chardev", 0o640, devmajor=1, devminor=1)]))
    c.append(layer_case("blockdev", "oci", "block device dev/sda (8:0)",
                        "layer entry dev/sda: device nodes are not allowed in images",
                        [mk.directory("dev"), E("dev/sda", "blockdev", 0o660, devmajor=8, devminor=0)]))
    c.append(layer_case("overlay-xattr", "oci",
                        "file with xattr trusted.overlay.redirect (overlay metadata smuggled in)",
                        "layer entry srv/redirect: xattr trusted.overlay.redirect is reserved for overlayfs",
                        [E("srv/redirect", data=b"x", xattrs={"trusted.overlay.redirect": "/etc"})]))

    # --- limits (the CLI's --max-layer-bytes / --max-layer-entries)
    c.append(layer_case("oversized-entry", "oci",
                        f"file big of 2 MiB with --max-layer-bytes {LIMIT}",
                        f"layer entry big: size {2 * LIMIT} exceeds the layer size limit of {LIMIT} bytes",
                        [mk.file("big", b"\0" * (2 * LIMIT))],
                        args=["--max-layer-bytes", str(LIMIT)]))
    c.append(layer_case("gzip-bomb", "oci",
                        f"64 MiB of zeros (128 files of 512 KiB, ~64 KiB gzip) with --max-layer-bytes {LIMIT}",
                        f"layer is larger than the limit of {LIMIT} bytes uncompressed",
                        [mk.directory("bomb")] + zeros_files(128, 512 << 10),
                        args=["--max-layer-bytes", str(LIMIT)]))
    c.append(layer_case("too-many-entries", "docker",
                        "2000 empty files with --max-layer-entries 1000",
                        "layer entry many/0999: the layer has more than 1000 entries (the limit)",
                        [mk.directory("many")] + [mk.file(f"many/{i:04d}", "") for i in range(1999)],
                        args=["--max-layer-entries", "1000"]))

    # --- broken layer streams
    def truncated_gzip(epoch, arch):
        # 64 KiB that does not compress, so the cut falls inside srv/data
        noise = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(2048))
        img = with_base("truncated-gzip", [mk.file("srv/data", noise)], epoch, arch)
        l = img.layers[1]
        l.blob = l.blob[:len(l.blob) // 2]          # descriptor made to match the cut blob:
        l.digest, l.size = mk.sha256_digest(l.blob), len(l.blob)   # only the gzip stream is wrong
        return archive_of(img, "oci", epoch)
    c.append(Case("truncated-gzip", "oci",
                  "second layer's gzip cut in half; descriptor digest and size match the cut blob",
                  "gzip layer: truncated", truncated_gzip))
    c.append(layer_case("duplicate", "docker", "etc/motd twice in one layer",
                        "layer entry etc/motd: duplicate entry",
                        [mk.directory("etc"), mk.file("etc/motd", "one\n"), mk.file("etc/motd", "two\n")]))

    # --- blobs that lie
    def digest_mismatch(epoch, arch):
        img = with_base("digest-mismatch", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.oci_layout_files(img)
        l = img.layers[1]
        evil = mk.gzip_bytes(mk.tar_bytes([mk.file("srv/a", "evil\n")], epoch))
        files[f"blobs/sha256/{l.digest[7:]}"] = evil   # content changed, name/descriptor not
        return mk.archive_bytes(files, epoch), (
            f"member blobs/sha256/{l.digest[7:]}: content has digest {mk.sha256_digest(evil)}, "
            f"not the expected {l.digest}")
    c.append(Case("digest-mismatch", "oci",
                  "layer blob content replaced; its name and descriptor still say the old digest",
                  None, digest_mismatch))

    def size_mismatch(epoch, arch):
        img = with_base("size-mismatch", [mk.file("srv/a", "a\n")], epoch, arch)
        l = img.layers[1]
        l.size += 1
        return archive_of(img, "oci", epoch), (
            f"{l.digest} has {l.size - 1} bytes, the descriptor says {l.size}")
    c.append(Case("size-mismatch", "oci", "layer descriptor size one byte more than the blob",
                  None, size_mismatch))

    def missing_blob(epoch, arch):
        img = with_base("missing-blob", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.oci_layout_files(img)
        del files[f"blobs/sha256/{img.layers[1].digest[7:]}"]
        return mk.archive_bytes(files, epoch), f"{img.layers[1].digest} is missing from"
    c.append(Case("missing-blob", "oci", "second layer's blob left out of the archive",
                  None, missing_blob))

    def docker_missing_layer(epoch, arch):
        img = with_base("missing-layer", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.docker_archive_files(img)
        last = mk.docker_v1_ids(img)[-1]
        del files[f"{last}/layer.tar"]
        return mk.archive_bytes(files, epoch), f"Layers[1]: {last}/layer.tar is not in the archive"
    c.append(Case("missing-layer", "docker", "manifest.json names a layer.tar the archive lacks",
                  None, docker_missing_layer))

    def digest_path(epoch, arch):
        img = with_base("digest-path", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.oci_layout_files(img)
        idx = json.loads(files["index.json"])
        idx["manifests"][0]["digest"] = "sha256:" + "../" * 12 + DIGEST_PATH.lstrip("/")
        files["index.json"] = mk.canonical_json(idx)
        return mk.archive_bytes(files, epoch)
    c.append(Case("digest-path", "oci",
                  f"index.json manifest digest sha256:../../..{DIGEST_PATH} (a path, not a digest)",
                  f'manifests[0].digest: "sha256:../../../../../../../../../../../../{DIGEST_PATH[1:]}" '
                  'is not a digest', digest_path, outside=[DIGEST_PATH]))

    def diff_id_mismatch(fmt):
        def build(epoch, arch):
            img = with_base(f"diff-id-{fmt}", [mk.file("srv/a", "a\n")], epoch, arch)
            real = img.layers[1].diff_id
            img.layers[1].diff_id = bad_diff
            return archive_of(img, fmt, epoch), (
                f"uncompressed content has digest {real}, but the image config says {bad_diff}")
        return build
    bad_diff = mk.sha256_digest(b"some other layer")
    for fmt in ("oci", "docker"):
        c.append(Case(f"diff-id-mismatch", fmt,
                      "config's diff_id for the second layer is another layer's",
                      None, diff_id_mismatch(fmt)))

    # --- JSON
    def bad_manifest_json(epoch, arch):
        img = with_base("bad-manifest-json", [mk.file("srv/a", "a\n")], epoch, arch)
        good = manifest_doc(img.config_bytes(), img.layers)
        cut = good[:len(good) // 2]
        return (mk.archive_bytes(layout_of(img, manifest=cut), epoch),
                f"parse manifest {mk.sha256_digest(cut)}: line 1, column")
    c.append(Case("manifest-json", "oci", "manifest blob cut in the middle of its JSON (descriptor matches)",
                  None, bad_manifest_json))

    def bad_config_json(fmt):
        def build(epoch, arch):
            img = with_base(f"bad-config-json-{fmt}", [mk.file("srv/a", "a\n")], epoch, arch)
            cfg = img.config_bytes().replace(b'"rootfs":{', b'"rootfs":{{', 1)
            error = f"parse config {mk.sha256_digest(cfg)}: line 1, column"
            if fmt == "oci":
                return mk.archive_bytes(layout_of(img, config=cfg), epoch), error
            files = mk.docker_archive_files(img)
            files[mk.sha256_hex(img.config_bytes()) + ".json"] = cfg
            return mk.archive_bytes(files, epoch), error
        return build
    for fmt in ("oci", "docker"):
        c.append(Case("config-json", fmt, 'config JSON with "rootfs":{{ (descriptor matches)',
                      None, bad_config_json(fmt)))

    def bad_index_json(epoch, arch):
        img = with_base("bad-index-json", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.oci_layout_files(img)
        files["index.json"] = files["index.json"][:-2]
        return mk.archive_bytes(files, epoch)
    c.append(Case("index-json", "oci", "index.json missing its last two bytes",
                  "index.json: line 1, column", bad_index_json))

    def bad_docker_manifest_json(epoch, arch):
        img = with_base("bad-docker-manifest", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.docker_archive_files(img)
        files["manifest.json"] = files["manifest.json"].replace(b'"Layers":[', b'"Layers":[,', 1)
        return mk.archive_bytes(files, epoch)
    c.append(Case("manifest-json", "docker", "manifest.json with a stray comma",
                  "manifest.json: line 1, column", bad_docker_manifest_json))

    # --- media types, platforms
    def manifest_is_index(epoch, arch):
        img = with_base("manifest-is-index", [mk.file("srv/a", "a\n")], epoch, arch)
        m = manifest_doc(img.config_bytes(), img.layers, media_type=mk.MT_OCI_INDEX)
        return mk.archive_bytes(layout_of(img, manifest=m), epoch)
    c.append(Case("manifest-mediatype", "oci",
                  "the manifest says mediaType image index (the index descriptor says manifest)",
                  f'mediaType "{mk.MT_OCI_INDEX}": is an image index, not a manifest', manifest_is_index))

    bz2 = "application/vnd.oci.image.layer.v1.tar+bzip2"
    def layer_bz2(epoch, arch):
        img = with_base("layer-mediatype", [mk.file("srv/a", "a\n")], epoch, arch)
        m = manifest_doc(img.config_bytes(), img.layers, layer_types=[None, bz2])
        return mk.archive_bytes(layout_of(img, manifest=m), epoch)
    c.append(Case("layer-mediatype", "oci", f"second layer's mediaType {bz2}",
                  f'layers[1].mediaType: "{bz2}": not a layer type berth can unpack', layer_bz2))

    a1, a2 = other_arches(arch)

    def no_platform(epoch, _arch):
        descs, blobs = [], []
        for a in (a1, a2):
            img = with_base("no-platform", [mk.file("srv/a", f"{a}\n")], epoch, a)
            m = manifest_doc(img.config_bytes(), img.layers)
            descs.append(desc(mk.MT_OCI_MANIFEST, m, platform={"os": "linux", "architecture": a}))
            blobs += [m, img.config_bytes()] + [l.blob for l in img.layers]
        return mk.archive_bytes(layout(descs, list(dict.fromkeys(blobs))), epoch)
    c.append(Case("no-platform", "oci",
                  f"index lists only linux/{a1} and linux/{a2} (this host: linux/{arch})",
                  f"no image for linux/{arch} (available: linux/{a1}, linux/{a2})", no_platform))

    def wrong_arch(epoch, _arch):
        return archive_of(with_base("wrong-arch", [mk.file("srv/a", "a\n")], epoch, a1), "docker", epoch)
    c.append(Case("config-arch", "docker", f"config architecture {a1} (no index to choose from)",
                  f"the image is for linux/{a1}, this host runs linux/{arch}", wrong_arch))

    # --- docker-archive paths and names
    def docker_layers_path(epoch, arch):
        img = with_base("layers-path", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.docker_archive_files(img)
        man = json.loads(files["manifest.json"])
        man[0]["Layers"][-1] = "../../etc/passwd"
        files["manifest.json"] = mk.canonical_json(man)
        return mk.archive_bytes(files, epoch)
    c.append(Case("layers-path", "docker", "manifest.json Layers[1] = ../../etc/passwd",
                  '[0].Layers[1]: "../../etc/passwd": not a relative path inside the archive',
                  docker_layers_path, unchanged=[PASSWD]))

    def docker_config_abs(epoch, arch):
        img = with_base("config-path", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.docker_archive_files(img)
        man = json.loads(files["manifest.json"])
        man[0]["Config"] = PASSWD
        files["manifest.json"] = mk.canonical_json(man)
        return mk.archive_bytes(files, epoch)
    c.append(Case("config-path", "docker", "manifest.json Config = /etc/passwd",
                  '[0].Config: "/etc/passwd": not a relative path inside the archive',
                  docker_config_abs, unchanged=[PASSWD]))

    def docker_bad_tag(epoch, arch):
        img = with_base("bad-tag", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.docker_archive_files(img)
        man = json.loads(files["manifest.json"])
        man[0]["RepoTags"] = ["../../Evil:tag"]
        files["manifest.json"] = mk.canonical_json(man)
        return mk.archive_bytes(files, epoch)
    c.append(Case("bad-repotag", "docker", "manifest.json RepoTags[0] = ../../Evil:tag",
                  'RepoTags[0]: image reference "../../Evil:tag"', docker_bad_tag))

    # --- the outer archive
    def outer_dotdot(epoch, arch):
        img = with_base("outer-dotdot", [mk.file("srv/a", "a\n")], epoch, arch)
        return outer(mk.oci_layout_files(img), epoch, last=[mk.file("../evil", "x")])
    c.append(Case("outer-dotdot", "oci", "outer archive member ../evil after a complete layout",
                  'member "../evil": path leaves the archive', outer_dotdot))

    def outer_abs(epoch, arch):
        img = with_base("outer-abs", [mk.file("srv/a", "a\n")], epoch, arch)
        return outer(mk.docker_archive_files(img), epoch, first=[mk.file(ABS + "-outer", "x")])
    c.append(Case("outer-absolute", "docker", f"outer archive member {ABS}-outer",
                  f'member "{ABS}-outer": path leaves the archive', outer_abs,
                  outside=[ABS + "-outer"]))

    def outer_blobs_symlink(epoch, arch):
        img = with_base("outer-blobs-link", [mk.file("srv/a", "a\n")], epoch, arch)
        return outer(mk.oci_layout_files(img), epoch, first=[mk.symlink("blobs", "/")])
    c.append(Case("outer-blobs-symlink", "oci", "outer archive: blobs is a symlink to /, before the blobs",
                  'member "blobs": link target "/" not inside the archive', outer_blobs_symlink))

    def outer_hardlink(epoch, arch):
        img = with_base("outer-hardlink", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.docker_archive_files(img)
        last = mk.docker_v1_ids(img)[-1]
        del files[f"{last}/layer.tar"]
        return outer(files, epoch, last=[mk.hardlink(f"{last}/layer.tar", "../../../etc/shadow")])
    c.append(Case("outer-hardlink", "docker",
                  "outer archive: the last layer.tar is a hardlink to ../../../etc/shadow",
                  'link target "../../../etc/shadow" leaves the archive', outer_hardlink))

    def outer_fifo(epoch, arch):
        img = with_base("outer-fifo", [mk.file("srv/a", "a\n")], epoch, arch)
        files = mk.oci_layout_files(img)
        name = f"blobs/sha256/{img.layers[1].digest[7:]}"
        del files[name]
        return (outer(files, epoch, last=[E(name, "fifo")]),
                f'member "{name}": not a regular file')
    c.append(Case("outer-fifo", "oci", "outer archive: the second layer's blob is a FIFO member",
                  None, outer_fifo))

    # --- late failures: everything written, then rolled back
    def late_tag(epoch, arch):
        return archive_of(with_base("late-bad-tag", [mk.file("srv/a", "a\n")], epoch, arch), "oci", epoch)
    c.append(Case("late-bad-tag", "oci",
                  "a clean image imported with --tag ../Bad:ref:x: refused after its layers and "
                  "record were written",
                  'image reference "../Bad:ref:x"', late_tag, args=["--tag", "../Bad:ref:x"]))

    def two_images(epoch, arch):
        entries = mk.base_entries(busybox)
        for e in entries:     # root-owned, so it also imports in a user namespace
            e.uid = e.gid = 0
        bb = mk.Layer.from_entries(entries, epoch, "busybox base")
        good = mk.Image("berth-evil/first", "latest", [bb, mk.Layer.from_entries(
            [mk.file("srv/first", "ok\n")], epoch, "first")], {"Cmd": ["/bin/sh"]}, epoch, arch)
        bad = mk.Image("berth-evil/second", "latest", [bb, mk.Layer.from_entries(
            [mk.file("srv/second", "ok\n")], epoch, "second")], {"Cmd": ["/bin/sh"]}, epoch, arch)
        real = bad.layers[1].diff_id
        bad.layers[1].diff_id = bad_diff
        files = mk.docker_archive_files(good)
        more = mk.docker_archive_files(bad)
        man = json.loads(files["manifest.json"]) + json.loads(more["manifest.json"])
        files.update(more)
        files["manifest.json"] = mk.canonical_json(man)
        files["repositories"] = b"{}"
        return mk.archive_bytes(files, epoch), (
            f"uncompressed content has digest {real}, but the image config says {bad_diff}")
    c.append(Case("second-image-bad", "docker",
                  "two images sharing a busybox base; the first imports, the second's diff_id lies: "
                  "all of the first must be rolled back",
                  None, two_images))

    return c


def controls(busybox, epoch, arch):
    """Clean images from the same building blocks: must import. Root-owned
    only (no uid 1000 entries), so they also import in a user namespace."""
    img = image("clean", [
        base_layer(epoch),
        mk.Layer.from_entries([
            mk.file("bin/busybox", busybox, 0o755),
            mk.file("srv/hello.txt", "hello\n"),
            mk.symlink("srv/link", "hello.txt"),
            mk.hardlink("srv/zhard", "srv/hello.txt"),
            mk.whiteout("etc/group"),
        ], epoch, "clean"),
    ], epoch, arch)
    return {"clean.oci.tar": archive_of(img, "oci", epoch),
            "clean.docker.tar": archive_of(img, "docker", epoch)}


def main(argv=None):
    p = argparse.ArgumentParser(description="Build berth's malicious image suite.",
                                epilog="Writes DIR/NN-NAME.{oci,docker}.tar, clean.*.tar, "
                                       "expect.json and expect.txt.")
    p.add_argument("--busybox", required=True, metavar="PATH",
                   help="static busybox (its architecture is the images' architecture)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--epoch", type=int, metavar="N")
    a = p.parse_args(argv)
    try:
        epoch = mk.resolve_epoch(a.epoch)
        busybox = mk.read_input(a.busybox, "busybox binary")
        arch = mk.elf_arch(a.busybox, busybox)
        os.makedirs(a.out, exist_ok=True)
        all_cases = cases(busybox, arch)

        # remove what an earlier run left (names carry numbers)
        for f in os.listdir(a.out):
            if f.endswith(".tar") or f.startswith("expect."):
                os.unlink(os.path.join(a.out, f))
        record = {"cases": {}, "controls": [], "outside": [], "unchanged": []}
        lines = []
        for i, cs in enumerate(all_cases, 1):
            fname = f"{i:02d}-{cs.name}.{cs.fmt}.tar"
            data = cs.build(epoch, arch)
            if isinstance(data, tuple):
                data, cs.error = data
            for s in [cs.error] + cs.args:
                if "|" in s or "\n" in s:
                    raise mk.BuildError(f"{fname}: '|' or newline in {s!r} would break expect.txt")
            mk.write_atomic(os.path.join(a.out, fname), data)
            record["cases"][fname] = {"what": cs.what, "error": cs.error, "args": cs.args,
                                      "outside": cs.outside, "unchanged": cs.unchanged}
            lines.append(f"{fname}|{' '.join(cs.args)}|{cs.error}")
            for o in cs.outside:
                if o not in record["outside"]:
                    record["outside"].append(o)
            for o in cs.unchanged:
                if o not in record["unchanged"]:
                    record["unchanged"].append(o)
        for name, data in controls(busybox, epoch, arch).items():
            mk.write_atomic(os.path.join(a.out, name), data)
            record["controls"].append(name)
        lines += [f"outside|{o}" for o in record["outside"]]
        lines += [f"unchanged|{o}" for o in record["unchanged"]]
        lines += [f"control|{c}" for c in record["controls"]]
        mk.write_atomic(os.path.join(a.out, "expect.txt"), ("\n".join(lines) + "\n").encode())
        mk.write_atomic(os.path.join(a.out, "expect.json"),
                        json.dumps(record, indent=2, sort_keys=True).encode() + b"\n")
    except mk.BuildError as e:
        print(f"mkevil.py: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"mkevil.py: {e.filename or a.out}: {e.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
