# shellcheck shell=bash
# Host side of the interop test guest: a bash library, sourced by a test. One guest per shell.
#
#   source tests/interop/vm/vm.sh
#   vm_require                          # exit 77 "<test>: SKIP: <reason>" without qemu/kernel/...
#   vm_build_image [build-initramfs.sh options] OUT_DIR   # cached; sets VM_IMAGE
#   vm_start --fwd 4420                 # boots, waits until the guest serves commands
#   vm_run nvmet_setup "$nqn" 64        # a shell script in the guest: its stdout, stderr, status
#   port=$(vm_port 4420)                # host port forwarded to guest port 4420 (on 127.0.0.1)
#   vm_check_dmesg                      # fails on a kernel BUG/Oops/WARNING in the guest
#   vm_stop                             # poweroff; kill after a timeout; fails if it had to kill
#
# vm_start [--image DIR] [--fwd [HOST_PORT:]GUEST_PORT]... [--mem MIB] [--smp N]
#          [--append KERNEL_ARGS] [--qemu-arg ARG]... [--iommu intel] [--boot-timeout S]
#   --fwd forwards tcp 127.0.0.1:HOST_PORT to the guest's GUEST_PORT (a free host port when
#   HOST_PORT is left out; vm_port tells which). --qemu-arg adds QEMU arguments (e.g. an
#   emulated NVMe controller). --iommu intel gives the guest an emulated Intel IOMMU, which
#   VFIO needs (the Debian kernel has no no-IOMMU mode): a q35 machine, the intel-iommu device
#   ahead of every other PCI device (it must come first to translate for them) and the kernel
#   booted with intel_iommu=on iommu=pt. QEMU runs under TCG (KVM when /dev/kvm is usable), user
#   networking restricted to the forwards, the guest console in a log file and commands on a
#   virtio-serial port (see init for the protocol). Must not run in a subshell: QEMU dies with
#   the shell that started it (PR_SET_PDEATHSIG), so even a SIGKILLed test leaves no guest.
# vm_run [--timeout S] SCRIPT...  the words, joined by spaces, run as a script in the guest
#   (guest-lib.sh's functions available); returns its exit status, or 255 with a message and
#   the end of the console when there is no answer in time or the guest died.
# Cleanup: vm_start sets an EXIT trap that stops the guest and removes its temp directory
#   (printing the end of the guest console when the test failed); an EXIT trap set before is
#   kept and run first. Add more cleanup with vm_at_exit CMD rather than another trap.
# Timeouts (seconds, environment): VM_BOOT_TIMEOUT (180; a boot takes ~8 s under TCG on an idle
#   machine), VM_RUN_TIMEOUT (120 per vm_run), VM_STOP_TIMEOUT (30). VM_KEEP=1 keeps the temp
#   directory (console.log, qemu.log) and says where.

VM_HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${VM_BOOT_TIMEOUT:=180}" "${VM_RUN_TIMEOUT:=120}" "${VM_STOP_TIMEOUT:=30}"
VM_TEST=${VM_TEST:-$(basename "$0" .sh)}
VM_IMAGE=${VM_IMAGE-}
VM_DIR=
VM_PID=
VM_CTL_IN=
VM_CTL_OUT=
VM_LINE=
VM__BUF=
VM__TRAPPED=
VM_EXIT_HOOKS=()
declare -gA VM_PORTS=()

vm_skip() {
	echo "$VM_TEST: SKIP: $*"
	exit 77
}

# vm_require: skips the test (exit 77) when the guest cannot run here.
vm_require() {
	local t reason
	for t in qemu-system-x86_64 base64 mkfifo; do
		command -v "$t" >/dev/null ||
			vm_skip "$t not found (apt-get install qemu-system-x86, or run scripts/install-deps.sh)"
	done
	reason=$(bash "$VM_HARNESS_DIR/build-initramfs.sh" --check) || vm_skip "$reason"
}

# vm_build_image [options] OUT_DIR: builds (or reuses) the guest image there.
vm_build_image() {
	bash "$VM_HARNESS_DIR/build-initramfs.sh" "$@" || return 1
	VM_IMAGE=${*: -1}
}

vm_port() {
	if [ -z "${VM_PORTS[${1-}]-}" ]; then
		echo "vm_port: guest port '${1-}' is not forwarded" >&2
		return 1
	fi
	echo "${VM_PORTS[$1]}"
}

vm_at_exit() {
	VM_EXIT_HOOKS+=("$1")
	vm__install_traps
}

vm_console_tail() {
	local n=${1:-40}
	[ -n "$VM_DIR" ] && [ -f "$VM_DIR/console.log" ] || return 0
	echo "--- last $n lines of the guest console ($VM_DIR/console.log) ---" >&2
	tail -n "$n" "$VM_DIR/console.log" | tr -d '\r' >&2
	if [ -s "$VM_DIR/qemu.log" ]; then
		echo "--- qemu output ---" >&2
		tail -n 20 "$VM_DIR/qemu.log" >&2
	fi
	echo "---" >&2
}

vm__install_traps() {
	local old words
	[ -z "$VM__TRAPPED" ] || return 0
	VM__TRAPPED=1
	# "trap -- 'CMD' EXIT", quoted for eval.
	old=$(trap -p EXIT)
	if [ -n "$old" ]; then
		eval "words=($old)"
		VM_EXIT_HOOKS=("${words[2]}" "${VM_EXIT_HOOKS[@]}")
	fi
	trap vm__on_exit EXIT
	# Without these a signal would end bash without running the EXIT trap.
	[ -n "$(trap -p INT)" ] || trap 'exit 130' INT
	[ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM
	[ -n "$(trap -p HUP)" ] || trap 'exit 129' HUP
}

vm__on_exit() {
	local rc=$? h
	for h in "${VM_EXIT_HOOKS[@]}"; do
		eval "$h" || true
	done
	if [ -n "$VM_DIR" ]; then
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
			vm_console_tail 40
			# The console only has emergencies after boot; the kernel's buffer has the rest.
			if vm__alive; then
				echo "--- last 30 lines of the guest kernel log ---" >&2
				vm_run --timeout 10 'dmesg | tail -n 30' >&2 2>/dev/null || true
			fi
		fi
		vm_stop 10 || true
	fi
	exit "$rc"
}

# vm__alive: the QEMU process exists and is not a zombie.
vm__alive() {
	local stat
	[ -n "$VM_PID" ] || return 1
	read -r stat 2>/dev/null <"/proc/$VM_PID/stat" || return 1
	stat=${stat##*) }
	[ "${stat:0:1}" != Z ]
}

# vm__read_line DEADLINE: the next control line into VM_LINE; 1 at DEADLINE ($SECONDS),
# 2 when QEMU is gone.
vm__read_line() {
	local part r
	while :; do
		r=0
		IFS= read -r -t 1 -u "$VM_CTL_OUT" part || r=$?
		if [ "$r" = 0 ]; then
			VM_LINE=$VM__BUF$part
			VM__BUF=
			return 0
		fi
		# A timed-out read leaves the partial line in part.
		VM__BUF+=$part
		[ "$r" -gt 128 ] || return 2
		vm__alive || return 2
		[ "$SECONDS" -lt "$1" ] || return 1
	done
}

# vm__free_port: a port nobody listens on, below the ephemeral range (32768+) so that no
# outgoing connection takes it meanwhile. QEMU may still lose a race for it: vm_start retries.
vm__free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((10240 + (RANDOM * 32768 + RANDOM) % 22000))
		[[ " ${VM_PORTS[*]} " != *" $p "* ]] || continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	echo "vm_start: no free tcp port on 127.0.0.1" >&2
	return 1
}

# vm__launch: starts QEMU in the background (VM_PID) and opens the control channel.
vm__launch() {
	local spec g h hostfwd='' accel=(-accel tcg) wrap=() machine=(-machine pc) append=$vm__append
	VM_PORTS=()
	for spec in "${vm__fwds[@]}"; do
		g=${spec##*:}
		if [[ $spec == *:* ]]; then
			h=${spec%%:*}
		else
			h=$(vm__free_port) || return 1
		fi
		VM_PORTS[$g]=$h
		hostfwd+=",hostfwd=tcp:127.0.0.1:$h-:$g"
	done
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		accel=(-accel kvm -accel tcg)
	fi
	if [ "$vm__iommu" = intel ]; then
		# kernel-irqchip=split: interrupt remapping under KVM needs it (TCG ignores it).
		machine=(-machine "q35,kernel-irqchip=split" -device "intel-iommu,intremap=on,aw-bits=48")
		append="intel_iommu=on iommu=pt $append"
	fi
	if [[ $(setpriv --help 2>/dev/null) == *pdeathsig* ]]; then
		wrap=(setpriv --pdeathsig KILL --)
	fi
	rm -f "$VM_DIR/ctl.in" "$VM_DIR/ctl.out"
	mkfifo "$VM_DIR/ctl.in" "$VM_DIR/ctl.out" || return 1
	: >"$VM_DIR/console.log"
	"${wrap[@]}" qemu-system-x86_64 -name spio-interop -nodefaults -no-user-config \
		-display none "${machine[@]}" "${accel[@]}" -cpu max -smp "$vm__smp" -m "$vm__mem" \
		-kernel "$VM_IMAGE/vmlinuz" -initrd "$VM_IMAGE/initramfs.cpio" -no-reboot \
		-append "console=ttyS0 quiet panic=-1 mitigations=off $append" \
		-serial "file:$VM_DIR/console.log" \
		-netdev "user,id=n0,restrict=on$hostfwd" -device virtio-net-pci,netdev=n0 \
		-device virtio-serial-pci,id=vs0 -chardev "pipe,id=ctl,path=$VM_DIR/ctl" \
		-device virtserialport,bus=vs0.0,chardev=ctl,name=spio.ctl \
		"${vm__qemu_args[@]}" </dev/null >"$VM_DIR/qemu.log" 2>&1 &
	VM_PID=$!
	# Read-write opens never block on a FIFO, and keep it open whatever QEMU does: no SIGPIPE,
	# no end of file; vm__alive tells when QEMU is gone.
	exec {VM_CTL_IN}<>"$VM_DIR/ctl.in" {VM_CTL_OUT}<>"$VM_DIR/ctl.out"
	VM__BUF=
}

# vm__kill: ends QEMU (TERM, then KILL) and closes the channel; VM_DIR stays.
vm__kill() {
	local i
	if vm__alive; then
		kill -TERM "$VM_PID" 2>/dev/null
		for ((i = 0; i < 50; i++)); do
			vm__alive || break
			sleep 0.1
		done
		! vm__alive || kill -KILL "$VM_PID" 2>/dev/null || true
	fi
	[ -z "$VM_PID" ] || wait "$VM_PID" 2>/dev/null || true
	VM_PID=
	[ -z "$VM_CTL_IN" ] || exec {VM_CTL_IN}>&-
	[ -z "$VM_CTL_OUT" ] || exec {VM_CTL_OUT}>&-
	VM_CTL_IN=
	VM_CTL_OUT=
}

vm_start() {
	local boot_timeout=$VM_BOOT_TIMEOUT attempt deadline r
	vm__fwds=()
	vm__qemu_args=()
	vm__mem=512
	vm__smp=2
	vm__append=
	vm__iommu=
	while [ $# -gt 0 ]; do
		if [ $# -lt 2 ]; then
			echo "vm_start: $1 needs a value" >&2
			return 1
		fi
		case $1 in
		--image) VM_IMAGE=$2 ;;
		--fwd) vm__fwds+=("$2") ;;
		--mem) vm__mem=$2 ;;
		--smp) vm__smp=$2 ;;
		--append) vm__append=$2 ;;
		--qemu-arg) vm__qemu_args+=("$2") ;;
		--iommu)
			if [ "$2" != intel ]; then
				echo "vm_start: --iommu $2: only 'intel' is supported" >&2
				return 1
			fi
			vm__iommu=$2
			;;
		--boot-timeout) boot_timeout=$2 ;;
		*)
			echo "vm_start: unknown option '$1'" >&2
			return 1
			;;
		esac
		shift 2
	done
	if [ -n "$VM_PID" ]; then
		echo "vm_start: a guest is already running (qemu pid $VM_PID)" >&2
		return 1
	fi
	if [ ! -f "$VM_IMAGE/vmlinuz" ] || [ ! -f "$VM_IMAGE/initramfs.cpio" ]; then
		echo "vm_start: no guest image in '$VM_IMAGE' (run vm_build_image first)" >&2
		return 1
	fi
	VM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/spio-vm.XXXXXX") || return 1
	vm__install_traps

	for attempt in 1 2 3; do
		vm__launch || return 1
		deadline=$((SECONDS + boot_timeout))
		while :; do
			r=0
			vm__read_line "$deadline" || r=$?
			[ "$r" = 0 ] || break
			[[ $VM_LINE != "@@SPIO-READY "* ]] || return 0
		done
		# A forwarded port taken between vm__free_port and QEMU's bind: another port.
		if [ "$r" = 2 ] && grep -q 'host forwarding rule' "$VM_DIR/qemu.log" && [ "$attempt" -lt 3 ]; then
			vm__kill
			continue
		fi
		if [ "$r" = 1 ]; then
			echo "vm_start: the guest was not ready within ${boot_timeout}s" >&2
		else
			echo "vm_start: qemu exited during boot" >&2
		fi
		vm_console_tail 40
		vm__kill
		return 1
	done
}

vm_run() {
	local timeout=$VM_RUN_TIMEOUT id deadline state=skip rc='' r out='' err=''
	if [ "${1-}" = --timeout ]; then
		timeout=$2
		shift 2
	fi
	if ! vm__alive; then
		echo "vm_run: no guest running (for: $*)" >&2
		return 255
	fi
	id=$BASHPID.$RANDOM$RANDOM
	deadline=$((SECONDS + timeout))
	printf 'RUN %s %s\n' "$id" "$(printf '%s' "$*" | base64 -w0)" >&"$VM_CTL_IN"
	# Lines of other ids are late answers to a command that timed out: skipped.
	while [ -z "$rc" ]; do
		r=0
		vm__read_line "$deadline" || r=$?
		if [ "$r" != 0 ]; then
			if [ "$r" = 1 ]; then
				echo "vm_run: no answer within ${timeout}s to: $*" >&2
			else
				echo "vm_run: the guest died during: $*" >&2
			fi
			vm_console_tail 40
			return 255
		fi
		case $VM_LINE in
		"@@SPIO-OUT $id") state=out ;;
		"@@SPIO-ERR $id") state=err ;;
		"@@SPIO-END $id "*) rc=${VM_LINE##* } ;;
		"@@SPIO-"*) state=skip ;;
		*)
			case $state in
			out) out+=$VM_LINE$'\n' ;;
			err) err+=$VM_LINE$'\n' ;;
			esac
			;;
		esac
	done
	printf '%s' "$out" | base64 -d
	printf '%s' "$err" | base64 -d >&2
	return "$rc"
}

# vm_check_dmesg: fails, printing them, when the guest kernel logged a BUG, an Oops, a
# WARNING or a call trace (the console only shows emergencies, so ask the kernel's buffer).
vm_check_dmesg() {
	local log bad
	log=$(vm_run dmesg) || return 1
	bad=$(printf '%s\n' "$log" |
		grep -E 'BUG:|Oops|WARNING:|Call Trace|general protection|Kernel panic' || true)
	if [ -n "$bad" ]; then
		echo "vm_check_dmesg: the guest kernel complained:" >&2
		printf '%s\n' "$bad" >&2
		return 1
	fi
}

# vm_stop [TIMEOUT_S]: powers the guest off; kills QEMU (and fails) when it does not stop in
# time. Removes the temp directory unless VM_KEEP=1.
vm_stop() {
	local timeout=${1:-$VM_STOP_TIMEOUT} deadline rc=0
	if vm__alive; then
		printf 'POWEROFF\n' >&"$VM_CTL_IN"
		deadline=$((SECONDS + timeout))
		while vm__alive && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.1
		done
		if vm__alive; then
			echo "vm_stop: the guest did not power off within ${timeout}s; killing qemu" >&2
			rc=1
		fi
	fi
	vm__kill
	if [ -n "$VM_DIR" ]; then
		if [ "${VM_KEEP-}" = 1 ]; then
			echo "vm_stop: kept $VM_DIR" >&2
		else
			rm -rf "$VM_DIR"
		fi
	fi
	VM_DIR=
	return "$rc"
}
