#!/usr/bin/env bash
# Build the Xiaoban container image from the Dockerfile at the top level, from a clean export of
# one commit (uncommitted work never ends up in an image), and optionally prove that it runs.
#
#   scripts/build_image.sh                   docker build with the official base images
#   scripts/build_image.sh --local-bases     no route to Docker Hub: build the two base images
#                                            here first (see below), then build on them
#   scripts/build_image.sh --smoke           afterwards run the image and check it (see smoke())
#
# Options:
#   --rev REV        commit to build (default HEAD)
#   --tag NAME       image name (default xiaoban:<short commit>)
#   --engine E       docker | buildah (default: docker when a Docker engine answers, else
#                    buildah; `apt-get install buildah podman` on Debian)
#   --local-bases    build localhost/xiaoban-base/debian:bookworm-slim (debootstrap from
#                    Debian's mirror) and localhost/xiaoban-base/rust:<ver>-slim-bookworm (that
#                    + gcc + this machine's Rust toolchain + the CA certificates this machine
#                    adds in /usr/local/share/ca-certificates, so that cargo and `xiaoban models
#                    fetch` work behind a TLS-inspecting proxy). The CA certificates stay in the
#                    build stages: the runtime stage starts from the plain Debian base.
#   --smoke          run the image as its own user and check serve, the health check, a chat
#                    answer over HTTP and the models (needs docker, or podman and runc)
#   -- ARGS...       passed on to the build, e.g. -- --build-arg MODELS=
#
# buildah runs with --isolation chroot and the vfs storage driver (works inside a sandbox or a
# CI container without overlayfs) and --format docker (the OCI image format has no HEALTHCHECK).
# No --layers: with vfs every cached step is a full copy of its stage (about 1 GB each for the
# Rust stages); the cargo registry and target folder are cache mounts and persist anyway, so a
# rebuild compiles only the xiaoban crate itself.
# Prints the build time and the image size.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REV=HEAD
TAG=""
ENGINE=""
LOCAL_BASES=0
SMOKE=0
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rev) REV=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --engine) ENGINE=$2; shift 2 ;;
    --local-bases) LOCAL_BASES=1; shift ;;
    --smoke) SMOKE=1; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

COMMIT=$(git -C "$ROOT" rev-parse --short "$REV")
TAG=${TAG:-xiaoban:$COMMIT}
if [ -z "$ENGINE" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker; else ENGINE=buildah; fi
fi
BUILDAH=(buildah --storage-driver vfs)
PODMAN=(podman --storage-driver vfs)

# Debian bookworm, minimal, slimmed the way Debian's official slim images are.
local_debian_base() {
  local image=$1 ctr mnt
  ctr=$("${BUILDAH[@]}" from scratch)
  mnt=$("${BUILDAH[@]}" mount "$ctr")
  [ -n "$mnt" ] && [ "$mnt" != / ] || { echo "buildah mount gave '$mnt'" >&2; exit 1; }
  nice debootstrap --variant=minbase bookworm "$mnt" http://deb.debian.org/debian >/dev/null
  rm -f "$mnt/etc/apt/sources.list"
  cat > "$mnt/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat > "$mnt/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
# As in Debian's slim images: no documentation, manual pages or translations.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  find "$mnt/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$mnt/usr/share/doc" -mindepth 1 -depth -type d -empty -delete
  find "$mnt/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$mnt"/usr/share/man/* "$mnt"/usr/share/info/* "$mnt"/var/lib/apt/lists/* \
    "$mnt"/var/cache/apt/*.bin "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/log/apt/*
  "${BUILDAH[@]}" umount "$ctr" >/dev/null
  "${BUILDAH[@]}" config --cmd '["bash"]' --env LANG=C.UTF-8 \
    --created-by "debootstrap --variant=minbase bookworm http://deb.debian.org/debian" "$ctr"
  "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$image" >/dev/null
}

# The Debian base + gcc + the Rust toolchain of this machine (what rust:<ver>-slim-bookworm has).
local_rust_base() {
  local debian=$1 image=$2 sysroot=$3 version=$4 ctr dest f
  dest=/usr/local/rustup/toolchains/$version-x86_64-unknown-linux-gnu
  ctr=$("${BUILDAH[@]}" from --pull-never "$debian")
  nice "${BUILDAH[@]}" run --isolation chroot "$ctr" -- sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates gcc libc6-dev >/dev/null && rm -rf /var/lib/apt/lists/*'
  for f in cargo rustc rustdoc; do "${BUILDAH[@]}" copy --quiet "$ctr" "$sysroot/bin/$f" "$dest/bin/$f"; done
  "${BUILDAH[@]}" copy --quiet "$ctr" "$sysroot/lib" "$dest/lib"
  "${BUILDAH[@]}" copy --quiet "$ctr" "$sysroot/libexec" "$dest/libexec"
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    "${BUILDAH[@]}" copy --quiet "$ctr" /usr/local/share/ca-certificates/ /usr/local/share/ca-certificates/
    "${BUILDAH[@]}" run --isolation chroot "$ctr" -- update-ca-certificates >/dev/null
  fi
  "${BUILDAH[@]}" run --isolation chroot "$ctr" -- mkdir -p /usr/local/cargo/bin
  "${BUILDAH[@]}" config --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env "PATH=/usr/local/cargo/bin:$dest/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --env "RUST_VERSION=$version" \
    --created-by "Debian bookworm + gcc + Rust $version from the build machine" "$ctr"
  "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$image" >/dev/null
}

ARGS=()
if [ "$LOCAL_BASES" = 1 ]; then
  [ "$ENGINE" = buildah ] || { echo "--local-bases needs --engine buildah" >&2; exit 2; }
  SYSROOT=$(rustc --print sysroot)
  VERSION=$(rustc --version | awk '{print $2}')
  DEBIAN_BASE=localhost/xiaoban-base/debian:bookworm-slim
  RUST_BASE=localhost/xiaoban-base/rust:${VERSION%.*}-slim-bookworm
  if ! "${BUILDAH[@]}" inspect --type image "$DEBIAN_BASE" >/dev/null 2>&1; then
    echo "building $DEBIAN_BASE (debootstrap)"
    local_debian_base "$DEBIAN_BASE"
  fi
  if ! "${BUILDAH[@]}" inspect --type image "$RUST_BASE" >/dev/null 2>&1; then
    echo "building $RUST_BASE (Rust $VERSION from $SYSROOT)"
    local_rust_base "$DEBIAN_BASE" "$RUST_BASE" "$SYSROOT" "$VERSION"
  fi
  ARGS+=(--pull-never --build-arg "RUST_IMAGE=$RUST_BASE" --build-arg "RUNTIME_IMAGE=$DEBIAN_BASE")
fi

CONTEXT=$(mktemp -d /tmp/xiaoban-image.XXXXXX)
trap 'rm -rf "$CONTEXT"' EXIT
# -m: files get the time of extraction. git archive stamps them with the commit's time, and
# cargo judges this crate's freshness by file times against the target cache mount, so an
# older commit built after a newer one would silently reuse the newer binary.
git -C "$ROOT" archive "$REV" | tar -x -m -C "$CONTEXT"

echo "building $TAG from $COMMIT with $ENGINE (load average $(cut -d' ' -f1-3 /proc/loadavg))"
START=$(date +%s)
if [ "$ENGINE" = docker ]; then
  DOCKER_BUILDKIT=1 docker build -t "$TAG" "${ARGS[@]}" "${EXTRA[@]}" "$CONTEXT"
  SIZE=$(docker image inspect -f '{{.Size}}' "$TAG")
else
  nice "${BUILDAH[@]}" bud --isolation chroot --format docker -t "$TAG" \
    "${ARGS[@]}" "${EXTRA[@]}" "$CONTEXT"
  SIZE=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$TAG")
fi
echo "built $TAG in $(( $(date +%s) - START )) s; image size $(( SIZE / 1000000 )) MB ($SIZE bytes)"

[ "$SMOKE" = 1 ] || exit 0

# Run the image as it ships (its own user, a fresh volume), then check from outside: the server
# starts, `xiaoban healthcheck` passes inside, a chat question gets an answer over HTTP and the
# fetched models verify against the manifest.
# podman in a sandbox (a VM with cgroups v1+v2 "hybrid" and hard resource limits): the
# cgroupfs manager, runc (crun refuses hybrid cgroups) and limits within the host's hard ones.
if [ "$ENGINE" = docker ]; then
  RUN=(docker)
  RUN_FLAGS=()
else
  RUN=("${PODMAN[@]}" --cgroup-manager cgroupfs)
  if command -v runc >/dev/null; then RUN+=(--runtime runc); fi
  RUN_FLAGS=(--ulimit "nofile=$(ulimit -n):$(ulimit -Hn)" --ulimit nproc=8192:8192)
fi
PORT=${SMOKE_PORT:-18080}
NAME=xiaoban-smoke-$$
VOLUME=xiaoban-smoke-data-$$
cleanup() { "${RUN[@]}" rm -f "$NAME" >/dev/null 2>&1 || true; "${RUN[@]}" volume rm -f "$VOLUME" >/dev/null 2>&1 || true; rm -rf "$CONTEXT"; }
trap cleanup EXIT
"${RUN[@]}" volume create "$VOLUME" >/dev/null
# Host networking: no bridge or port mapping needed (a sandbox may have neither); the server
# listens on loopback only.
"${RUN[@]}" run -d --name "$NAME" "${RUN_FLAGS[@]}" --network host -e "XIAOBAN_LISTEN=127.0.0.1:$PORT" \
  -v "$VOLUME:/var/lib/xiaoban" "$TAG" >/dev/null
echo "user in the container: $("${RUN[@]}" exec "$NAME" id)"
up=0
for _ in $(seq 1 120); do
  if "${RUN[@]}" exec "$NAME" xiaoban healthcheck --timeout 2 >/dev/null 2>&1; then up=1; break; fi
  sleep 1
done
if [ "$up" != 1 ]; then "${RUN[@]}" logs "$NAME" | tail -20; echo "FAIL: no health within 120 s" >&2; exit 1; fi
echo "healthcheck: ok; /healthz: $(curl -s "http://127.0.0.1:$PORT/healthz")"
ANSWER=$(curl -s -X POST "http://127.0.0.1:$PORT/api/v1/chat" -H 'content-type: application/json' \
  -d '{"question":"身份证有效期满了怎么换"}')
echo "chat: ${ANSWER:0:400}"
echo "$ANSWER" | grep -q '"outcome":"answered"' || { echo "FAIL: not answered" >&2; exit 1; }
"${RUN[@]}" exec "$NAME" xiaoban models verify
"${RUN[@]}" stop -t 30 "$NAME" >/dev/null
echo "smoke: ok (stopped with SIGTERM; last log line: $("${RUN[@]}" logs "$NAME" 2>&1 | tail -1))"
