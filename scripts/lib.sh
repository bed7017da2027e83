# Shared by scripts/*: install what is missing on a fresh Debian machine, then build.
# Sourced, not run.

# as_root CMD...: run as root, with sudo when we are not.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: installs the Debian packages that are not installed yet (apt-get update first,
# since a new machine's package lists can be stale).
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# need_swift: swift must be on PATH (the machine image ships it; it is not an apt package here).
need_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        for dir in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
            [ -x "$dir/swift" ] && export PATH="$dir:$PATH" && break
        done
    fi
    command -v swift >/dev/null 2>&1 || { echo "swift is not installed: install the Swift 6 toolchain from swift.org" >&2; exit 1; }
}

# pip_install MODULE...: installs the Python modules that python3 cannot import yet (python3 and pip
# from apt when missing; on Debian's own python3, pip needs --break-system-packages).
pip_install() {
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-pip
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    local missing=()
    for module in "$@"; do
        python3 -c "import $module" 2>/dev/null || missing+=("$module")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing (pip): ${missing[*]}" >&2
    python3 -m pip install -q "${missing[@]}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${missing[@]}"
}

# own_tmpdir PREFIX: each swift command leaves a few empty TemporaryDirectory.* in $TMPDIR; the run
# gets a directory of its own instead (short, as the tests' Unix socket paths need), removed when
# the script exits.
own_tmpdir() {
    scratch=$(mktemp -d "/tmp/$1-XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    export TMPDIR=$scratch
}
