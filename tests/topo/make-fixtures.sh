#!/usr/bin/env bash
# tests/topo/make-fixtures.sh OUTDIR — the fake machines of test_topo_matrix.
#
# Built only with hwloc's own command-line tools (lstopo-no-graphics,
# hwloc-calc, hwloc-annotate; hwloc >= 2.x), nothing downloaded.  The output
# is deterministic; the script prints nothing on success and fails loudly
# (showing the tool's own messages) otherwise.  Every file is checked after it
# is written: PU, NUMA node and package counts, and the presence (or absence)
# of the latency matrix.
#
# hwloc puts one NUMA node per machine when a synthetic description has no
# "numa" level (and refuses a 1x1 distance matrix), so a shape of the issue
# without NUMA levels gets its "with matrix" variant from the same shape with
# NUMA nodes added at the level where a real machine would have them.
#
# file                             shape                           PUs nodes pkgs matrix
# pack2-core8-pu2.xml              pack:2 core:8 pu:2               32   1    2   -
# pack2-numa1-core8-pu2.xml        pack:2 numa:1 core:8 pu:2        32   2    2   -
# pack2-numa1-core8-pu2-dist.xml   (same)                           32   2    2   M2
# pack2-numa2-core8-pu2.xml        pack:2 numa:2 core:8 pu:2        64   4    2   -
# pack2-numa2-core8-pu2-dist.xml   (same)                           64   4    2   M4
# pack2-l3x4-core4-pu1.xml         pack:2 l3:4 core:4 pu:1 (CCX)    32   1    2   -
# pack2-numa2-l3x2-core4-pu1.xml   pack:2 numa:2 l3:2 core:4 pu:1   32   4    2   -
# pack2-numa2-l3x2-core4-pu1-dist.xml (same, AMD NPS2-like)         32   4    2   M4
# asym.xml                         pack:2 numa:2 core:8 pu:2 restricted (below)
#                                                                   47   4    2   -
# asym-dist.xml                    (same)                           47   4    2   M4
# asym-disallowed.xml              all 64 PUs in the XML, only the 47 of asym.xml
#                                  allowed (allowed_cpuset)         47   4    2   -
# single-core4-pu2.xml             core:4 pu:2 (no package level)    8   1    0   -
#
# PU OS indexes are the synthetic ones (0..n-1 in depth-first order) and NUMA
# node OS index == logical index everywhere.
#
# asym: package 0 complete (PUs 0-31, nodes 0 and 1); package 1 keeps, on node
# 2, cores 16-19 with both PUs (PUs 32-39) and cores 20-23 with their first
# PU only (40,42,44,46), and on node 3 core 24 with both PUs (48,49) and core
# 25 with its first PU (50): 32 + 15 = 47 PUs.  The other PUs are removed
# from the topology (lstopo --restrict); asym-disallowed keeps them in the XML
# but outside the allowed cpuset, which a default hwloc load drops: the runtime
# must see 47 Ps on the same 47 PUs for both.
#
# Matrices (hwloc "NUMALatency", kind 5 = FROM_OS|MEANS_LATENCY, like Linux's
# SLIT), rows/columns by node logical index:
#   M2: 10 21        M4: 10 12 20 24
#       21 10            12 10 24 20
#                        20 24 10 12
#                        24 20 12 10
# In M4 nodes 0,1 and 2,3 share a package (12); across packages one remote node
# is closer (20) than the other (24), differently for each node.
set -euo pipefail

if [[ $# -ne 1 || -z $1 ]]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1

# nothing from the environment may change what hwloc builds
while IFS= read -r v; do
	unset "$v"
done < <(compgen -e | grep '^HWLOC_' || true)
export LC_ALL=C

for tool in lstopo-no-graphics hwloc-calc hwloc-annotate; do
	command -v "$tool" >/dev/null || {
		echo "$0: $tool not found (hwloc command-line tools)" >&2
		exit 1
	}
done

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Run a tool quietly; on failure show what it said and stop.
q() {
	local msg
	if ! msg=$("$@" 2>&1); then
		printf '%s\n' "$msg" >&2
		echo "$0: failed: $*" >&2
		exit 1
	fi
}

# Run a tool, capture its stdout, fail loudly.
val() {
	local v
	if ! v=$("$@" 2>"$tmp/err"); then
		cat "$tmp/err" >&2
		echo "$0: failed: $*" >&2
		exit 1
	fi
	printf '%s' "$v"
}

synth() { # shape file
	q lstopo-no-graphics --input "$1" -f --of xml "$out/$2"
}

matrix() { # file(out) n values...
	local f=$1 n=$2 i
	shift 2
	{
		echo "name=NUMALatency"
		echo 5
		echo "$n"
		for ((i = 0; i < n; i++)); do
			echo "NUMANode:$i"
		done
		printf '%s\n' "$@"
	} >"$f"
}

annotate() { # in out matrixfile
	q hwloc-annotate "$out/$1" "$out/$2" root distances "$3"
}

fail() {
	echo "$0: $*" >&2
	exit 1
}

check() { # file pus nodes packages matrix(0|1)
	local f=$out/$1 n
	q lstopo-no-graphics --input "$f" --of console
	n=$(val hwloc-calc --input "$f" -N pu all)
	[[ $n == "$2" ]] || fail "$1: $n PUs, expected $2"
	n=$(val hwloc-calc --input "$f" -N numa all)
	[[ $n == "$3" ]] || fail "$1: $n NUMA nodes, expected $3"
	n=$(val hwloc-calc --input "$f" -N package all)
	n=${n:-0} # hwloc-calc prints nothing when there is no such level
	[[ $n == "$4" ]] || fail "$1: $n packages, expected $4"
	n=$(val lstopo-no-graphics --input "$f" --distances)
	if [[ $5 == 1 ]]; then
		[[ $n == *"name NUMALatency"* ]] || fail "$1: no NUMALatency matrix"
	else
		[[ $n != *"latency"* && $n != *"Latency"* ]] || fail "$1: unexpected matrix"
	fi
}

matrix "$tmp/m2" 2 \
	10 21 \
	21 10
matrix "$tmp/m4" 4 \
	10 12 20 24 \
	12 10 24 20 \
	20 24 10 12 \
	24 20 12 10

synth "pack:2 core:8 pu:2" pack2-core8-pu2.xml
synth "pack:2 numa:1 core:8 pu:2" pack2-numa1-core8-pu2.xml
annotate pack2-numa1-core8-pu2.xml pack2-numa1-core8-pu2-dist.xml "$tmp/m2"
synth "pack:2 numa:2 core:8 pu:2" pack2-numa2-core8-pu2.xml
annotate pack2-numa2-core8-pu2.xml pack2-numa2-core8-pu2-dist.xml "$tmp/m4"
synth "pack:2 l3:4 core:4 pu:1" pack2-l3x4-core4-pu1.xml
synth "pack:2 numa:2 l3:2 core:4 pu:1" pack2-numa2-l3x2-core4-pu1.xml
annotate pack2-numa2-l3x2-core4-pu1.xml pack2-numa2-l3x2-core4-pu1-dist.xml "$tmp/m4"
synth "core:4 pu:2" single-core4-pu2.xml

# the asymmetric machine: from the 4-node one, package 1 loses PUs
base=$out/pack2-numa2-core8-pu2.xml
allowed=$(val hwloc-calc --input "$base" package:0 core:16-19 core:20-23.pu:0 core:24 core:25.pu:0)
[[ $allowed == "0x000755ff,0xffffffff" ]] || fail "asym cpuset is $allowed"
q lstopo-no-graphics --input "$base" --restrict "$allowed" -f --of xml "$out/asym.xml"
annotate asym.xml asym-dist.xml "$tmp/m4"
q lstopo-no-graphics --input "$base" --disallowed --allow "$allowed" -f --of xml \
	"$out/asym-disallowed.xml"
grep -q 'allowed_cpuset="0x000755ff,0xffffffff"' "$out/asym-disallowed.xml" ||
	fail "asym-disallowed.xml: allowed cpuset not recorded"
[[ $(grep -c 'type="PU"' "$out/asym-disallowed.xml") == 64 ]] ||
	fail "asym-disallowed.xml: disallowed PUs not kept"

check pack2-core8-pu2.xml 32 1 2 0
check pack2-numa1-core8-pu2.xml 32 2 2 0
check pack2-numa1-core8-pu2-dist.xml 32 2 2 1
check pack2-numa2-core8-pu2.xml 64 4 2 0
check pack2-numa2-core8-pu2-dist.xml 64 4 2 1
check pack2-l3x4-core4-pu1.xml 32 1 2 0
check pack2-numa2-l3x2-core4-pu1.xml 32 4 2 0
check pack2-numa2-l3x2-core4-pu1-dist.xml 32 4 2 1
check asym.xml 47 4 2 0
check asym-dist.xml 47 4 2 1
check asym-disallowed.xml 47 4 2 0
check single-core4-pu2.xml 8 1 0 0
