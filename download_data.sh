#!/usr/bin/env bash
# Download SVHN's cropped digits (train_32x32.mat, test_32x32.mat) into data/.
#
# Usage: ./download_data.sh [FOLDER]        (or DATA_DIR=FOLDER ./download_data.sh)
#
# Each file is downloaded to FILE.part (resumed when a previous run was cut off), checked for its exact byte size
# and md5, and only then moved to its final name; files already present and verified are skipped.
# SVHN_BASE_URL overrides the download location. Offline? `python standin.py data` writes a synthetic stand-in
# in the same format.
set -euo pipefail

usage="usage: $0 [FOLDER]   (default: \$DATA_DIR, else data)"
case "${1:-}" in
    -h|--help) echo "$usage"; exit 0 ;;
esac
if (( $# > 1 )); then
    echo "$usage" >&2
    exit 2
fi

data_dir="${1:-${DATA_DIR:-data}}"
base_url="${SVHN_BASE_URL:-http://ufldl.stanford.edu/housenumbers}"
base_url="${base_url%/}"
connect_timeout=20   # seconds to establish a connection
stall_time=60        # abort when slower than 1 KB/s for this many seconds
retries=3            # on timeouts and transient server errors

# name, size in bytes, md5 (see the SVHN facts in the project's API notes)
files=(
    "train_32x32.mat 182040794 e26dedcc434d2e4c54c9b2d4a06d8373"
    "test_32x32.mat 64275384 eb5a983be6a315427106f1b164d9cef3"
)

part=""   # the .part file being written, for the exit trap

# An empty .part is no progress to resume; never leave one behind.
remove_empty_part() {
    if [[ -n "$part" && -f "$part" && ! -s "$part" ]]; then
        rm -f "$part"
    fi
}
trap remove_empty_part EXIT

fail() {
    echo "download_data.sh: $1" >&2
    echo "download_data.sh: to continue offline, build the synthetic stand-in instead:" \
         "python standin.py $data_dir" >&2
    exit 1
}

size_of() {
    wc -c < "$1" | tr -d ' '
}

md5_of() {
    if command -v md5sum > /dev/null; then
        md5sum "$1" | cut -d ' ' -f 1
    else
        md5 -q "$1"
    fi
}

# verified PATH SIZE MD5: the file exists with exactly this size and md5.
verified() {
    [[ -f "$1" && "$(size_of "$1")" == "$2" && "$(md5_of "$1")" == "$3" ]]
}

# fetch URL PATH: download URL into PATH, continuing from what PATH already holds.
fetch() {
    if command -v curl > /dev/null; then
        curl --fail --location --silent --show-error \
             --connect-timeout "$connect_timeout" --speed-limit 1024 --speed-time "$stall_time" \
             --retry "$retries" --continue-at - --output "$2" "$1"
    elif command -v wget > /dev/null; then
        wget --no-verbose --continue --tries "$retries" --connect-timeout "$connect_timeout" \
             --read-timeout "$stall_time" --output-document "$2" "$1"
    else
        echo "neither curl nor wget is installed" >&2
        return 1
    fi
}

mkdir -p "$data_dir"
for entry in "${files[@]}"; do
    read -r name size md5 <<< "$entry"
    target="$data_dir/$name"
    part="$target.part"
    url="$base_url/$name"

    if verified "$target" "$size" "$md5"; then
        echo "$target: present and verified, skipped"
        continue
    fi
    # A .part of full size (or more) can no longer be resumed: either it is the whole file or it is corrupt.
    if [[ -f "$part" ]] && (( $(size_of "$part") >= size )) && ! verified "$part" "$size" "$md5"; then
        rm -f "$part"
    fi
    if ! verified "$part" "$size" "$md5"; then
        echo "downloading $url -> $target"
        if ! fetch "$url" "$part"; then
            remove_empty_part
            kept=""
            if [[ -f "$part" ]]; then
                kept=" ($(size_of "$part") of $size bytes kept in $part; run this script again to resume)"
            fi
            fail "failed to download $name from $url$kept"
        fi
        if ! verified "$part" "$size" "$md5"; then
            got="$(size_of "$part") bytes, md5 $(md5_of "$part")"
            rm -f "$part"
            fail "$name from $url is not the expected file (expected $size bytes, md5 $md5; got $got); removed it"
        fi
    fi
    mv -f "$part" "$target"
    echo "$target: verified ($size bytes, md5 $md5)"
done
