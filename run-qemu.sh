#!/usr/bin/env bash
# Builds the kernel and boots it under QEMU on a NUMA topology.
# Exit status: 0 the kernel passed (it powers off through ACPI, or writes
# the pass verdict to QEMU's exit device), 1 it failed (a self-test, a
# panic, a fatal exception, a reset), 2 timeout or QEMU error. `./run-qemu.sh --help` for more.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$here/rust-toolchain.toml")
presets_dir="$here/fixtures/qemu-acpi"
presets="one-node two-node four-node-asym memless-cpuless eight-node-big tiered"

usage() {
    cat <<USAGE
Usage: ./run-qemu.sh [options]

Builds the kernel (release) and boots it under QEMU with the PVH entry,
qboot firmware (where QEMU ships it) and the serial console on stdout. The kernel runs its
self-tests (KTAP) and ends the VM with its verdict.

Topology (default: --topology two-node):
  --topology NAME        one of: $presets
                         (the QEMU arguments of fixtures/qemu-acpi/NAME/qemu-args.txt)
  --nodes N              free-form: N nodes ...
  --cpus-per-node C      ... with C CPUs each (default 1), or a list C0,C1,...
                         with one count per node, 0 for a CPU-less node ...
  --mem-per-node SIZE    ... and SIZE of RAM each, e.g. 512M (default 512M) ...
  --distance I-J=D       ... and SLIT distance D between nodes I and J
                         (repeatable; J-I gets D too unless given; every other
                         pair gets 20, the local distance 10, as QEMU needs a
                         full matrix once one distance is given)

Kernel and run:
  --cmdline "WORDS"      kernel command line, e.g. "selftest=paging loglevel=8"
  --kvm | --tcg          accelerator (default: KVM where it runs the guest
                         natively; TCG, with a note, where /dev/kvm is missing
                         or is kvm_pvm, which emulates this kernel)
  --machine TYPE         QEMU machine type instead of the topology's q35: pc
                         (i440fx), microvm, or q35 with options (e.g.
                         pc,acpi=off); microvm takes its own firmware
  --firmware F           qboot, seabios or a firmware file (default qboot where
                         QEMU ships it, else QEMU's own, SeaBIOS)
  --timeout SECONDS      give up after this long, exit status 2 (default 120,
                         600 for workload=pressure or a bench= word; 7200
                         with --bench; each x10 under --kvm on kvm_pvm)
  --gdb                  start QEMU's gdb stub on tcp::1234 and wait for the debugger
  --no-build             do not build; use the existing kernel
  --kernel PATH          boot this ELF instead of the built one (implies --no-build)
  --qemu-arg ARG         pass one more argument to QEMU (repeatable)
  --dry-run              print the QEMU command and exit

Memory devices:
  --dimm NODE:SIZE       a coldplugged pc-dimm of SIZE (e.g. 1G) on NODE (repeatable);
                         adds the slots= and maxmem= that -m needs
  --nvdimm NODE:SIZE     a file-backed NVDIMM of SIZE on NODE (repeatable; -machine nvdimm=on)
  --hotplug NODE:SIZE[@WHEN]
                         hot-add a pc-dimm of SIZE on NODE while the VM runs
                         (object-add + device_add through QMP) when WHEN comes
                         (as --at's; default: the kernel's "memory hotplug: ready"
                         line); repeatable; adds slots= and maxmem= for it
  --hotunplug ID[@WHEN]  hot-remove the DIMM with QMP id ID (the Nth --hotplug's is
                         hpdimmN, counting from 0) through device_del when WHEN comes
                         (default: the hotplug self-tests' "memory hotplug: ready for
                         removal" line, after they placed pages on it); repeatable;
                         QEMU's DEVICE_DELETED event says it went
  --nvdimm-file PATH     the first NVDIMM's backing file (default target/nvdimm0.img; the
                         others target/nvdimmN.img); created if missing, kept across runs

Benchmark (../shared/BENCH-SPEC.md, our allocators and the peers, the
access matrix):
  --bench                run the benchmark instead of the self-tests; the BENCH
                         lines go to results/<topology>-<accel>-<time>/results.jsonl
                         with report.md and SVG plots beside them
  --bench-select LIST    workloads for bench= (default all,peers,matrix,policy)
  --bench-scale N        divide every operation count by N (default 1; 1000 under
                         a nested kvm_pvm, which emulates the guest)
  --results DIR          where the run's folder goes (default ./results)
  --at WHEN COMMAND      issue the QMP COMMAND ("name" or 'name {"arg": ...}') when
                         WHEN comes: +SECONDS after start, or the first console line
                         containing WHEN (repeatable; in order); every command,
                         reply and event is printed
  --host-bind auto|off|G:H,...
                         bind each guest node's memory to a host node (host-nodes=,
                         policy=bind, prealloc=on) and pin its vCPU threads to that
                         node's CPUs; auto: guest nodes round-robin over the host's
                         nodes with CPUs and memory (default off)
  --sweep LIST|all       boot each VM of LIST (comma-separated presets, or free-form
                         NxC@SIZE: N nodes of C CPUs and SIZE each; all: every
                         preset) with the other options, in parallel up to the
                         host's CPUs (one after another with --bench, which
                         measures time), and write one summary table
                         (results/sweep-<time>/report.md; with --bench also
                         sweep.svg); exit status the worst of the runs
  --setup                install what is missing (QEMU, qemu.qmp, the pinned Rust toolchain
                         and target) and exit
  -h, --help             this text

Exit status: 0 pass, 1 fail, 2 timeout or QEMU error.
USAGE
}

die2() { echo "run-qemu: $*" >&2; exit 2; }

topology="" nodes="" cpus_per_node=1 mem_per_node=512M distances=()
dimms=() nvdimms=() nvdimm_file=""
bench=0 bench_select="all,peers,matrix,policy" bench_scale="" results_dir=""
cmdline="" accel="" machine="" firmware_choice="" timeout_s="" gdb=0 build=1 kernel="" dry_run=0 setup=0 extra=()
sweep="" ats=() host_bind=off hotplugs=() hotunplugs=()
orig_args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --topology) topology=${2:?--topology needs a name}; shift ;;
        --nodes) nodes=${2:?}; shift ;;
        --cpus-per-node) cpus_per_node=${2:?}; shift ;;
        --mem-per-node) mem_per_node=${2:?}; shift ;;
        --distance) distances+=("${2:?}"); shift ;;
        --cmdline) cmdline=${2?}; shift ;;
        --kvm) accel=kvm ;;
        --tcg) accel=tcg ;;
        --machine) machine=${2:?--machine needs a machine type}; shift ;;
        --firmware) firmware_choice=${2:?--firmware needs qboot, seabios or a path}; shift ;;
        --timeout) timeout_s=${2:?}; shift ;;
        --gdb) gdb=1 ;;
        --no-build) build=0 ;;
        --kernel) kernel=${2:?}; build=0; shift ;;
        --qemu-arg) extra+=("${2?}"); shift ;;
        --dry-run) dry_run=1 ;;
        --dimm) dimms+=("${2:?--dimm needs NODE:SIZE}"); shift ;;
        --nvdimm) nvdimms+=("${2:?--nvdimm needs NODE:SIZE}"); shift ;;
        --nvdimm-file) nvdimm_file=${2:?}; shift ;;
        --hotplug) hotplugs+=("${2:?--hotplug needs NODE:SIZE[@WHEN]}"); shift ;;
        --hotunplug) hotunplugs+=("${2:?--hotunplug needs ID[@WHEN]}"); shift ;;
        --bench) bench=1 ;;
        --bench-select) bench_select=${2:?}; shift ;;
        --bench-scale) bench_scale=${2:?}; shift ;;
        --results) results_dir=${2:?}; shift ;;
        --setup) setup=1 ;;
        --sweep) sweep=${2:?--sweep needs 'all' or a list of presets}; shift ;;
        --at) ats+=("${2:?--at needs WHEN and COMMAND}" "${3:?--at needs WHEN and COMMAND}"); shift 2 ;;
        --host-bind) host_bind=${2:?--host-bind needs auto, off or G:H,...}; shift ;;
        *) echo "run-qemu: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# --- what a fresh machine lacks ------------------------------------------
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
ensure_qemu() {
    command -v qemu-system-x86_64 >/dev/null && return
    echo "run-qemu: installing qemu-system-x86 (apt-get), needed once" >&2
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86 >&2
}
ensure_qmp() {
    python3 -c 'import qemu.qmp' 2>/dev/null && return
    echo "run-qemu: installing Python's qemu.qmp (pip), needed once for QMP" >&2
    python3 -m pip install --quiet qemu.qmp >&2 || die2 "could not install qemu.qmp (pip install qemu.qmp)"
}
ensure_toolchain() {
    if ! rustup run "$toolchain" rustc --print target-list >/dev/null 2>&1 \
        || ! rustup target list --installed --toolchain "$toolchain" 2>/dev/null | grep -qx x86_64-unknown-none; then
        echo "run-qemu: installing Rust $toolchain with target x86_64-unknown-none (rustup), needed once" >&2
        rustup toolchain install "$toolchain" --profile minimal --target x86_64-unknown-none \
            --component rustfmt,clippy >&2
    fi
}

if [ "$setup" = 1 ]; then ensure_qemu; ensure_toolchain; ensure_qmp; exit 0; fi

# Sets `report` to the bench-report command: BENCH_REPORT_BIN, a
# bench-report already built (the tests set it: a cargo run inside cargo
# test would wait for cargo's own lock), else cargo run.
bench_report_command() {
    if [ -n "${BENCH_REPORT_BIN:-}" ]; then
        report=("$BENCH_REPORT_BIN")
    else
        report=(cargo +"$toolchain" run --quiet --release --target x86_64-unknown-linux-gnu -p bench-report --)
    fi
}

# --- topology sweep ----------------------------------------------------------
# Each preset is this same launcher run again with --topology P; the kernel
# is built once first.
if [ -n "$sweep" ]; then
    [ "$sweep" = all ] && sweep=${presets// /,}
    IFS=, read -r -a sweep_list <<< "$sweep"
    # A preset's name, or a free-form VM: NxC@SIZE (N nodes of C CPUs and
    # SIZE of RAM each, all at distance 20).
    sweep_topology() {
        case " $presets " in *" $1 "*) echo "--topology $1"; return ;; esac
        if [[ "$1" =~ ^([1-9][0-9]*)x([0-9]+)@([1-9][0-9]*[MG])$ ]]; then
            echo "--nodes ${BASH_REMATCH[1]} --cpus-per-node ${BASH_REMATCH[2]} --mem-per-node ${BASH_REMATCH[3]}"
            return
        fi
        return 1
    }
    for p in "${sweep_list[@]}"; do
        sweep_topology "$p" > /dev/null || die2 "--sweep: '$p' is neither a preset ($presets) nor a free-form NxC@SIZE (e.g. 3x2@512M: 3 nodes of 2 CPUs and 512 MiB)"
    done
    [ -z "$topology" ] && [ -z "$nodes" ] || die2 "--sweep and --topology/--nodes exclude each other"
    [ "$gdb" = 0 ] || die2 "--sweep does not go with --gdb"
    child_args=()
    for ((i = 0; i < ${#orig_args[@]}; i++)); do
        case "${orig_args[$i]}" in
            --sweep|--results) i=$((i + 1)) ;;
            --no-build) ;;
            *) child_args+=("${orig_args[$i]}") ;;
        esac
    done
    sweep_dir="${results_dir:-$here/results}/sweep-$(date -u +%Y%m%d-%H%M%S)"
    mkdir -p "$sweep_dir"
    if [ "$build" = 1 ] && [ "$dry_run" = 0 ]; then
        ensure_toolchain
        (cd "$here" && cargo +"$toolchain" build --release --quiet -p kernel) >&2 || die2 "kernel build failed"
    fi
    run_one() {
        local p=$1 start rc
        start=$EPOCHREALTIME
        set +e
        # shellcheck disable=SC2046 # the topology words split on purpose
        "$here/run-qemu.sh" "${child_args[@]}" --no-build $(sweep_topology "$p") --results "$sweep_dir/$p" \
            > "$sweep_dir/$p.log" 2>&1
        rc=$?
        set -e
        printf '%s %s %s %s\n' "$p" "$rc" "$start" "$EPOCHREALTIME" > "$sweep_dir/$p.status"
        echo "run-qemu: sweep: $p exit $rc ($sweep_dir/$p.log)" >&2
    }
    # Runs that measure time get the host to themselves.
    jobs_max=$(nproc)
    [ "$bench" = 0 ] || jobs_max=1
    echo "run-qemu: sweep of ${sweep_list[*]}, up to $jobs_max at a time, into $sweep_dir" >&2
    for p in "${sweep_list[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
        run_one "$p" &
    done
    wait
    python3 "$here/tools/sweep-summary.py" "$sweep_dir" "${sweep_list[@]}"
    if [ "$bench" = 1 ]; then
        # One plot across the sweep: each VM's headline workloads.
        plot_args=()
        for p in "${sweep_list[@]}"; do
            f=$(ls "$sweep_dir/$p"/*/results.jsonl 2>/dev/null | tail -1 || true)
            [ -z "$f" ] || plot_args+=("$p=$f")
        done
        bench_report_command
        if [ ${#plot_args[@]} -gt 0 ] && (cd "$here" && "${report[@]}" --sweep "$sweep_dir/sweep.svg" "${plot_args[@]}") > /dev/null; then
            echo "run-qemu: sweep plot in $sweep_dir/sweep.svg" >&2
        else
            echo "run-qemu: no sweep plot (no benchmark results, or the plot failed)" >&2
        fi
    fi
    worst=0
    for p in "${sweep_list[@]}"; do
        read -r _ rc _ < "$sweep_dir/$p.status"
        case $rc in 0) ;; 1) [ "$worst" -ge 1 ] || worst=1 ;; *) worst=2 ;; esac
    done
    exit "$worst"
fi

# --- topology --------------------------------------------------------------
topo_args=()
if [ -n "$nodes" ]; then
    [ -z "$topology" ] || die2 "--topology and --nodes exclude each other"
    [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || die2 "--nodes wants a positive number, not '$nodes'"
    if [[ "$cpus_per_node" =~ ^[1-9][0-9]*$ ]]; then
        node_cpus=()
        for ((i = 0; i < nodes; i++)); do node_cpus+=("$cpus_per_node"); done
    elif [[ "$cpus_per_node" =~ ^[0-9]+(,[0-9]+)*$ ]]; then
        IFS=, read -r -a node_cpus <<< "$cpus_per_node"
        [ ${#node_cpus[@]} -eq "$nodes" ] || die2 "--cpus-per-node $cpus_per_node names ${#node_cpus[@]} nodes, --nodes says $nodes"
    else
        die2 "--cpus-per-node wants a positive number or a list like 1,0 (one count per node)"
    fi
    [[ "$mem_per_node" =~ ^[1-9][0-9]*[KMGT]?$ ]] || die2 "--mem-per-node wants a size like 512M"
    total_cpus=0
    for c in "${node_cpus[@]}"; do total_cpus=$((total_cpus + c)); done
    [ "$total_cpus" -ge 1 ] || die2 "--cpus-per-node: the VM needs at least one CPU"
    unit=${mem_per_node//[0-9]/}; num=${mem_per_node//[KMGT]/}
    case "$unit" in K) mib=$((num / 1024));; M|"") mib=$num;; G) mib=$((num * 1024));; T) mib=$((num * 1024 * 1024));; esac
    topo_args=(-machine q35 -smp "$total_cpus" -m "$((mib * nodes))M")
    first=0
    for ((i = 0; i < nodes; i++)); do
        cpus=""
        if [ "${node_cpus[$i]}" -gt 0 ]; then
            cpus=",cpus=$first-$((first + node_cpus[i] - 1))"
            first=$((first + node_cpus[i]))
        fi
        topo_args+=(-object "memory-backend-ram,id=m$i,size=${mib}M"
                    -numa "node,nodeid=$i$cpus,memdev=m$i")
    done
    # QEMU 7.2 takes a distance matrix only whole ("The distance between
    # node 0 and 1 is missing"): the given pairs, their mirrors unless given
    # too, 20 for the rest.
    if [ ${#distances[@]} -gt 0 ]; then
        declare -A dist=()
        for d in "${distances[@]}"; do
            [[ "$d" =~ ^([0-9]+)-([0-9]+)=([0-9]+)$ ]] || die2 "--distance wants I-J=D, not '$d'"
            i=${BASH_REMATCH[1]} j=${BASH_REMATCH[2]} v=${BASH_REMATCH[3]}
            [ "$i" -lt "$nodes" ] && [ "$j" -lt "$nodes" ] || die2 "--distance $d names a node beyond --nodes $nodes"
            if [ "$i" = "$j" ]; then
                [ "$v" = 10 ] || die2 "--distance $d: a node's distance to itself is 10 (QEMU's rule)"
                continue
            fi
            [ "$v" -gt 10 ] && [ "$v" -le 254 ] || die2 "--distance $d: a distance between nodes is 11..254"
            dist[$i-$j]=$v
        done
        for ((i = 0; i < nodes; i++)); do
            for ((j = 0; j < nodes; j++)); do
                [ "$i" != "$j" ] || continue
                v=${dist[$i-$j]:-${dist[$j-$i]:-20}}
                topo_args+=(-numa "dist,src=$i,dst=$j,val=$v")
            done
        done
    fi
    topo_name="custom-${nodes}x${cpus_per_node//,/-}cpu-${mem_per_node}"
else
    [ ${#distances[@]} -eq 0 ] || die2 "--distance goes with --nodes"
    topology=${topology:-two-node}
    case " $presets " in *" $topology "*) ;; *) die2 "unknown topology '$topology' (presets: $presets)";; esac
    read -r -a topo_args < "$presets_dir/$topology/qemu-args.txt"
    topo_name=$topology
fi

# --- machine type -------------------------------------------------------------
if [ -n "$machine" ]; then
    [[ "$machine" =~ ^[a-z][a-z0-9.-]*(,[a-z0-9_=.-]+)*$ ]] || die2 "--machine wants a type like pc or microvm, not '$machine'"
    for ((i = 0; i < ${#topo_args[@]}; i++)); do
        if [ "${topo_args[$i]}" = -machine ]; then
            # The preset's options after the type (nvdimm=on, ...) are kept.
            rest=${topo_args[$((i + 1))]#*,}
            [ "$rest" = "${topo_args[$((i + 1))]}" ] && rest="" || rest=",$rest"
            topo_args[$((i + 1))]="$machine$rest"
        fi
    done
    topo_name="$topo_name-${machine%%,*}"
fi

# --- memory devices ---------------------------------------------------------
to_mib() {
    local unit=${1//[0-9]/} num=${1//[KMGT]/}
    case "$unit" in K) echo $((num / 1024));; M|"") echo "$num";; G) echo $((num * 1024));; T) echo $((num * 1024 * 1024));; esac
}
if [ ${#dimms[@]} -gt 0 ] || [ ${#nvdimms[@]} -gt 0 ] || [ ${#hotplugs[@]} -gt 0 ]; then
    extra_mib=0 device_args=()
    # Hot-added DIMMs: room in maxmem and a slot now, the devices later
    # through QMP (the backend first, then the DIMM that uses it).
    for ((i = 0; i < ${#hotplugs[@]}; i++)); do
        [[ "${hotplugs[$i]}" =~ ^([0-9]+):([1-9][0-9]*[KMGT]?)(@(.+))?$ ]] || die2 "--hotplug wants NODE:SIZE[@WHEN] (e.g. 1:512M or 1:512M@+5), not '${hotplugs[$i]}'"
        size_mib=$(to_mib "${BASH_REMATCH[2]}")
        when=${BASH_REMATCH[4]:-memory hotplug: ready}
        extra_mib=$((extra_mib + size_mib))
        ats+=("$when" "object-add {\"qom-type\": \"memory-backend-ram\", \"id\": \"hpmem$i\", \"size\": $((size_mib << 20))}"
              "$when" "device_add {\"driver\": \"pc-dimm\", \"id\": \"hpdimm$i\", \"memdev\": \"hpmem$i\", \"node\": ${BASH_REMATCH[1]}}")
    done
    for ((i = 0; i < ${#dimms[@]}; i++)); do
        [[ "${dimms[$i]}" =~ ^([0-9]+):([1-9][0-9]*[KMGT]?)$ ]] || die2 "--dimm wants NODE:SIZE, not '${dimms[$i]}'"
        size_mib=$(to_mib "${BASH_REMATCH[2]}")
        extra_mib=$((extra_mib + size_mib))
        device_args+=(-object "memory-backend-ram,id=dimm$i,size=${size_mib}M"
                      -device "pc-dimm,id=dimm$i,memdev=dimm$i,node=${BASH_REMATCH[1]}")
    done
    for ((i = 0; i < ${#nvdimms[@]}; i++)); do
        [[ "${nvdimms[$i]}" =~ ^([0-9]+):([1-9][0-9]*[KMGT]?)$ ]] || die2 "--nvdimm wants NODE:SIZE, not '${nvdimms[$i]}'"
        size_mib=$(to_mib "${BASH_REMATCH[2]}")
        extra_mib=$((extra_mib + size_mib))
        file="$here/target/nvdimm$i.img"
        if [ "$i" = 0 ] && [ -n "$nvdimm_file" ]; then file=$nvdimm_file; fi
        mkdir -p "$(dirname "$file")"
        device_args+=(-object "memory-backend-file,id=nv$i,share=on,mem-path=$file,size=${size_mib}M"
                      -device "nvdimm,id=nvdimm$i,memdev=nv$i,node=${BASH_REMATCH[1]}")
    done
    slots=$(( ${#dimms[@]} + ${#nvdimms[@]} + ${#hotplugs[@]} ))
    [ "$slots" -ge 4 ] || slots=4
    # -m SIZE becomes -m SIZE,slots=N,maxmem=SIZE+devices (QEMU needs both);
    # NVDIMMs need -machine ...,nvdimm=on.
    for ((i = 0; i < ${#topo_args[@]}; i++)); do
        if [ "${topo_args[$i]}" = -m ]; then
            base_mib=$(to_mib "${topo_args[$((i + 1))]}")
            topo_args[$((i + 1))]="${base_mib}M,slots=$slots,maxmem=$((base_mib + extra_mib))M"
        fi
        if [ "${topo_args[$i]}" = -machine ] && [ ${#nvdimms[@]} -gt 0 ]; then
            topo_args[$((i + 1))]="${topo_args[$((i + 1))]},nvdimm=on"
        fi
    done
    topo_args+=("${device_args[@]}")
    [ ${#dimms[@]} -eq 0 ] || topo_name="$topo_name+dimm"
    [ ${#nvdimms[@]} -eq 0 ] || topo_name="$topo_name+nvdimm"
    [ ${#hotplugs[@]} -eq 0 ] || topo_name="$topo_name+hotplug"
    # The hot-add self-tests wait for this many devices to arrive.
    [ ${#hotplugs[@]} -eq 0 ] || cmdline="$cmdline memhp.expect=${#hotplugs[@]}"
fi
# Hot-removal: device_del after the additions (their --at entries come
# first, and the driver issues them in order).
for ((i = 0; i < ${#hotunplugs[@]}; i++)); do
    [[ "${hotunplugs[$i]}" =~ ^([A-Za-z][A-Za-z0-9_.-]*)(@(.+))?$ ]] || die2 "--hotunplug wants ID[@WHEN] (e.g. hpdimm0 or hpdimm0@+20), not '${hotunplugs[$i]}'"
    ats+=("${BASH_REMATCH[3]:-memory hotplug: ready for removal}" "device_del {\"id\": \"${BASH_REMATCH[1]}\"}")
done
if [ ${#hotunplugs[@]} -gt 0 ]; then
    topo_name="$topo_name+hotunplug"
    # The self-tests place pages on that many devices and wait for them to go.
    cmdline="$cmdline memhp.unplug=${#hotunplugs[@]}"
fi

# --- accelerator -------------------------------------------------------------
kvm_usable() { [ -e /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }
# kvm_pvm (nested virtualization by shadow paging) emulates a guest that is
# not PVM-aware instruction by instruction: the default boot takes 24 s
# under it and 0.3 s under TCG.
kvm_is_pvm() { [ -d /sys/module/kvm_pvm ]; }
if [ -z "$accel" ]; then
    if kvm_usable && ! kvm_is_pvm; then accel=kvm
    elif kvm_usable; then
        accel=tcg; echo "run-qemu: /dev/kvm here is kvm_pvm, which emulates this kernel (~100x slower than TCG); using TCG (--kvm forces KVM)" >&2
    else
        accel=tcg; echo "run-qemu: /dev/kvm is not usable here; using TCG (software emulation)" >&2
    fi
elif [ "$accel" = kvm ] && ! kvm_usable; then
    die2 "--kvm asked for, but /dev/kvm is missing or not accessible"
fi
if [ "$accel" = kvm ]; then
    # Plain -cpu host aborts on these hosts ("failed to set MSR 0x10a").
    accel_args=(-accel kvm -cpu host,-arch-capabilities)
else
    accel_args=(-accel tcg -cpu max)
fi

# --- benchmark run ---------------------------------------------------------------
if [ "$bench" = 1 ]; then
    if [ -z "$bench_scale" ]; then
        bench_scale=1
        # A nested kvm_pvm emulates a guest like ours about a thousand
        # times slower than TCG runs it: full counts would take hours.
        if [ "$accel" = kvm ] && [ -d /sys/module/kvm_pvm ]; then
            bench_scale=1000
            echo "run-qemu: /dev/kvm here is kvm_pvm (nested; it emulates this kernel, ~1000x slower than TCG): --bench-scale 1000 chosen, --bench-scale N overrides" >&2
        fi
    fi
    [[ "$bench_scale" =~ ^[1-9][0-9]*$ ]] || die2 "--bench-scale wants a positive number, not '$bench_scale'"
    case " $cmdline " in *" selftest"*) ;; *) cmdline="$cmdline selftest=off" ;; esac
    cmdline="$cmdline bench=$bench_select bench.scale=$bench_scale"
    timeout_s=${timeout_s:-7200}
    run_dir="${results_dir:-$here/results}/$topo_name-$accel-$(date -u +%Y%m%d-%H%M%S)"
fi
if [ -z "$timeout_s" ]; then
    # What was asked decides the time it gets: the pressure workload and a
    # benchmark run for minutes, and a kvm_pvm guest runs ~100x slower.
    timeout_s=120
    case " $cmdline " in *" workload=pressure "*|*" bench="*) timeout_s=600 ;; esac
    if [ "$accel" = kvm ] && kvm_is_pvm; then
        timeout_s=$((timeout_s * 10))
        echo "run-qemu: under kvm_pvm this run may take many minutes; the timeout is ${timeout_s}s (--timeout overrides, --tcg is faster)" >&2
    fi
fi
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die2 "--timeout wants a positive number of seconds"

# --- kernel --------------------------------------------------------------------
if [ -z "$kernel" ]; then
    kernel="$here/target/x86_64-unknown-none/release/kernel"
fi
if [ "$build" = 1 ] && [ "$dry_run" = 0 ]; then
    ensure_toolchain
    (cd "$here" && cargo +"$toolchain" build --release --quiet -p kernel) >&2 || die2 "kernel build failed"
fi
[ "$dry_run" = 1 ] || [ -f "$kernel" ] || die2 "no kernel at $kernel (build it, or drop --no-build)"

# The firmware is chosen once QEMU is installed (it ships qboot). qboot
# starts a PVH kernel in a fraction of SeaBIOS's time; SeaBIOS is what a
# plain QEMU command, libvirt and most launchers give.
[ "$dry_run" = 1 ] || ensure_qemu
qboot=/usr/share/qemu/qboot.rom
firmware=()
case "${firmware_choice:-default}" in
    default) if [ -f "$qboot" ] && [[ "$machine" != microvm* ]]; then firmware=(-bios "$qboot"); fi ;;
    qboot) [ -f "$qboot" ] || die2 "--firmware qboot: $qboot is missing (QEMU ships it in qemu-system-data)"
           firmware=(-bios "$qboot") ;;
    seabios) ;; # QEMU's own default
    *) [ -f "$firmware_choice" ] || die2 "--firmware wants qboot, seabios or a firmware file, not '$firmware_choice'"
       firmware=(-bios "$firmware_choice") ;;
esac
for a in "${extra[@]}"; do
    # A -bios among the extra arguments wins: QEMU takes the last one.
    if [ "$a" = -bios ] && [ -n "$firmware_choice" ]; then
        die2 "--firmware and --qemu-arg -bios exclude each other"
    fi
done
firmware_name=${firmware_choice:-$([ ${#firmware[@]} -gt 0 ] && echo qboot || echo "QEMU's default")}

# --- QMP and host NUMA binding ---------------------------------------------
# Host nodes with both CPUs and memory, as `auto` binds to.
host_nodes() {
    local d n
    for d in /sys/devices/system/node/node[0-9]*; do
        [ -d "$d" ] || continue
        n=${d##*node}
        [ -n "$(tr -d '\n' < "$d/cpulist")" ] || continue
        awk '/MemTotal/ { exit !($4 > 0) }' "$d/meminfo" || continue
        echo "$n"
    done
}
bind_map=""
if [ "$host_bind" != off ]; then
    guest_nodes=()
    for ((i = 0; i < ${#topo_args[@]}; i++)); do
        if [ "${topo_args[$i]}" = -numa ] && [[ "${topo_args[$((i + 1))]}" =~ ^node,nodeid=([0-9]+) ]]; then
            guest_nodes+=("${BASH_REMATCH[1]}")
        fi
    done
    [ ${#guest_nodes[@]} -gt 0 ] || guest_nodes=(0)
    mapfile -t hnodes < <(host_nodes)
    [ ${#hnodes[@]} -gt 0 ] || hnodes=(0)
    if [ "$host_bind" = auto ]; then
        k=0
        for g in "${guest_nodes[@]}"; do
            bind_map+="${bind_map:+,}$g:${hnodes[$((k % ${#hnodes[@]}))]}"
            k=$((k + 1))
        done
    else
        [[ "$host_bind" =~ ^[0-9]+:[0-9]+(,[0-9]+:[0-9]+)*$ ]] || die2 "--host-bind wants auto, off or G:H,... (guest node:host node), not '$host_bind'"
        bind_map=$host_bind
        for pair in ${bind_map//,/ }; do
            [ -d "/sys/devices/system/node/node${pair#*:}" ] || die2 "--host-bind $pair: the host has no node ${pair#*:} (nodes: ${hnodes[*]})"
            case " ${guest_nodes[*]} " in *" ${pair%%:*} "*) ;; *) die2 "--host-bind $pair: the guest has no node ${pair%%:*} (nodes: ${guest_nodes[*]})";; esac
        done
    fi
    # Each guest node's memory backend, bound to its host node.
    declare -A memdev_host=()
    for pair in ${bind_map//,/ }; do
        for ((i = 0; i < ${#topo_args[@]}; i++)); do
            if [ "${topo_args[$i]}" = -numa ] && [[ "${topo_args[$((i + 1))]}" =~ ^node,nodeid=${pair%%:*}(,.*)?,memdev=([a-z0-9]+) ]]; then
                memdev_host[${BASH_REMATCH[2]}]=${pair#*:}
            fi
        done
    done
    bound_mem=0
    for ((i = 0; i < ${#topo_args[@]}; i++)); do
        if [ "${topo_args[$i]}" = -object ] && [[ "${topo_args[$((i + 1))]}" =~ ^memory-backend-[a-z]+,id=([a-z0-9]+), ]]; then
            h=${memdev_host[${BASH_REMATCH[1]}]:-}
            if [ -n "$h" ]; then
                topo_args[$((i + 1))]+=",host-nodes=$h,policy=bind,prealloc=on"
                bound_mem=$((bound_mem + 1))
            fi
        fi
    done
    echo "run-qemu: host-bind: guest node:host node $bind_map (host nodes with CPUs and memory: ${hnodes[*]}); $bound_mem memory backends bound$([ "$bound_mem" -gt 0 ] || echo ' (this topology has none: its memory is not bound)')" >&2
    if [ ${#hnodes[@]} -le 1 ]; then
        echo "run-qemu: host-bind: this host has one NUMA node, so every guest node sits on it: the guest's distances are not a NUMA measurement" >&2
    fi
fi
qmp_sock=""
if [ ${#ats[@]} -gt 0 ] || [ -n "$bind_map" ]; then
    [ "$dry_run" = 1 ] || ensure_qmp
    qmp_sock=$(mktemp -u "${TMPDIR:-/tmp}/run-qemu-qmp.XXXXXX")
    driver=(python3 "$here/tools/qmp-driver.py" --socket "$qmp_sock")
    for ((i = 0; i < ${#ats[@]}; i += 2)); do driver+=(--at "${ats[$i]}" "${ats[$((i + 1))]}"); done
    [ -z "$bind_map" ] || driver+=(--host-bind "$bind_map")
    "${driver[@]}" --console /dev/null --check || exit 2
    # -S: the vCPUs wait until the driver has pinned them and says `cont`.
    extra+=(-qmp "unix:$qmp_sock,server=on,wait=off" -name "guest=$topo_name,debug-threads=on" -S)
fi

qemu=(qemu-system-x86_64 "${topo_args[@]}" "${accel_args[@]}" "${firmware[@]}"
      -kernel "$kernel" -append "$cmdline"
      -display none -vga none -nic none -monitor none -serial stdio -no-reboot
      -device isa-debug-exit,iobase=0xf4,iosize=0x04)
[ "$gdb" = 0 ] || qemu+=(-s -S)
qemu+=("${extra[@]}")

echo "run-qemu: topology $topo_name, accelerator $accel, firmware $firmware_name" >&2
echo "run-qemu: ${qemu[*]}" >&2
[ "$dry_run" = 0 ] || exit 0
[ "$gdb" = 0 ] || echo "run-qemu: waiting for gdb: gdb $kernel -ex 'target remote :1234'" >&2

set +e
# The console is kept to tell a clean power-off (QEMU exits 0) from a
# reset under -no-reboot, such as a triple fault (QEMU exits 0 too), and
# for the QMP driver's console triggers.
if [ "$bench" = 1 ]; then
    mkdir -p "$run_dir"
    console_log="$run_dir/console.log"
    : > "$console_log"
else
    console_log=$(mktemp)
    trap 'rm -f "$console_log"' EXIT
fi
driver_pid=""
if [ -n "$qmp_sock" ]; then
    # A driver that fails leaves no VM waiting paused behind it.
    ("${driver[@]}" --console "$console_log" \
        || { echo "run-qemu: the QMP driver failed; stopping the VM" >&2; pkill -f -- "unix:$qmp_sock,"; }) &
    driver_pid=$!
fi
if [ "$gdb" = 1 ]; then
    "${qemu[@]}" < /dev/null
    status=$?
else
    timeout -k 5 "$timeout_s" "${qemu[@]}" < /dev/null | tee "$console_log"
    status=${PIPESTATUS[0]}
    if [ "$bench" = 0 ] && [ "$status" = 0 ] && ! grep -aq 'reboot: Power down' "$console_log"; then
        status=reset
    fi
fi
if [ -n "$driver_pid" ]; then
    # The driver ends when QEMU closes the socket; give it a moment.
    for _ in $(seq 50); do kill -0 "$driver_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$driver_pid" 2>/dev/null
    wait "$driver_pid" 2>/dev/null
    rm -f "$qmp_sock"
fi
set -e
if [ "$bench" = 1 ]; then
    {
        printf 'BENCH_RUN {"topology":"%s","accelerator":"%s","date":"%s","host_cpus":%s,"bench_scale":%s,"host_bind":"%s"}\n' \
            "$topo_name" "$accel" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" "$bench_scale" "${bind_map:-off}"
        if [ -n "$bind_map" ]; then
            if [ "$(host_nodes | wc -l)" -le 1 ]; then
                printf 'BENCH_NOTE {"note":"host-bind %s: the host has one NUMA node, so the access matrix latencies are not a NUMA measurement"}\n' "$bind_map"
            else
                printf 'BENCH_NOTE {"note":"host-bind %s: each guest node bound to the host node after the colon (memory and vCPU threads)"}\n' "$bind_map"
            fi
        fi
        grep -a '^BENCH' "$run_dir/console.log" | tr -d '\r' || true
    } > "$run_dir/results.jsonl"
    echo "run-qemu: $(grep -c '^BENCH ' "$run_dir/results.jsonl" || true) BENCH lines in $run_dir/results.jsonl" >&2
    bench_report_command
    if (cd "$here" && "${report[@]}" "$run_dir/results.jsonl" --out "$run_dir") >&2; then
        echo "run-qemu: report and plots in $run_dir (report.md, *.svg)" >&2
    else
        echo "run-qemu: the report could not be made (the results file is kept)" >&2
    fi
fi
case $status in
    33) exit 0 ;;   # the kernel wrote Verdict::Pass to isa-debug-exit
    0) exit 0 ;;    # a clean ACPI power-off, which the kernel does only after a passing run
    reset) echo "run-qemu: the VM reset without a verdict (a triple fault?)" >&2; exit 1 ;;
    35) echo "run-qemu: the kernel reported failure" >&2; exit 1 ;;
    124|137) echo "run-qemu: timed out after ${timeout_s}s" >&2; exit 2 ;;
    *) echo "run-qemu: QEMU exited with status $status without a verdict" >&2; exit 2 ;;
esac
