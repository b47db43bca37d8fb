"""The agent sandbox's seccomp filter: a classic-BPF program that refuses the syscalls an escape needs.

    program = agent_filter()            # bytes of struct sock_filter[], or None on an unknown arch
    program.hex()                       # what keeper.py loads (PR_SET_SECCOMP) before it runs the agent

Why a filter on top of no capabilities and a non-root uid: those make mount, pivot_root and
friends fail today, but the kernel's answer to "may an unprivileged process create a user
namespace (and so get every capability inside it)" is a sysctl of the host, and a new user
namespace is where container escapes start. The filter removes the whole family regardless of
the host: namespace creation and joining (unshare, setns, clone with CLONE_NEW* flags; clone3's
flags sit in memory a filter cannot read, so clone3 answers ENOSYS and the C library falls back
to clone, whose flags it can), the mount API old and new, kernel keyrings, module loading,
kexec, BPF, perf, userfaultfd, handle-based opens (the classic container escape), io_uring
(whose operations bypass seccomp), and terminal injection (TIOCSTI/TIOCLINUX). Syscalls of
another ABI (i386 ``int 0x80`` or x32 on x86_64, numbered differently) are refused outright.
Training, compilers, Python, CUDA need none of these.

The program is built here, with the numbers of the host's architecture, and loaded by the
keeper inside the sandbox (standard library only: ctypes + prctl) under no_new_privs, so it
binds the agent and everything it starts; a filter cannot be removed once loaded.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000

# offsets into struct seccomp_data
_NR, _ARCH = 0, 4


def _arg_low(i: int) -> int:
    return 16 + 8 * i  # the low 32 bits of args[i] (little-endian hosts only: both below are)


CLONE_NEW_FLAGS = (
    0x00000080  # CLONE_NEWTIME
    | 0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)
TIOCSTI, TIOCLINUX = 0x5412, 0x541C

# Syscalls refused with EPERM, by name (numbers per architecture below).
DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "keyctl", "add_key", "request_key",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "bpf", "perf_event_open", "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "reboot", "swapon", "swapoff", "acct", "quotactl",
)


@dataclass(frozen=True)
class Arch:
    name: str
    audit: int  # AUDIT_ARCH_* of struct seccomp_data.arch
    numbers: dict[str, int]
    x32_bit: int | None = None  # syscall numbers with this bit set are another ABI


_X86_64 = Arch(
    "x86_64",
    0xC000003E,
    {
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "keyctl": 250, "add_key": 248, "request_key": 249,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "quotactl": 179,
        "clone": 56, "clone3": 435, "ioctl": 16,
    },
    x32_bit=0x40000000,
)

_AARCH64 = Arch(
    "aarch64",
    0xC00000B7,
    {
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "keyctl": 219, "add_key": 217, "request_key": 218,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89, "quotactl": 60,
        "clone": 220, "clone3": 435, "ioctl": 29,
    },
)

ARCHES = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}


class _Program:
    """A tiny assembler: forward jumps to labels, resolved when the program is encoded."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def encode(self) -> bytes:
        out = bytearray()
        for at, (code, jt, jf, k) in enumerate(self.code):
            offsets = []
            for target in (jt, jf):
                if isinstance(target, str):
                    offset = self.labels[target] - at - 1
                    if not 0 <= offset <= 255:
                        raise ValueError(f"jump to {target} out of range ({offset})")
                    offsets.append(offset)
                else:
                    offsets.append(target)
            out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
        return bytes(out)


def build_filter(arch: Arch) -> bytes:
    eperm = RET_ERRNO | errno.EPERM
    p = _Program()
    p.op(_LD_W_ABS, _ARCH)
    p.op(_JEQ_K, arch.audit, 0, "deny")  # another ABI: its numbers mean other syscalls
    p.op(_LD_W_ABS, _NR)
    if arch.x32_bit is not None:
        p.op(_JGE_K, arch.x32_bit, "deny", 0)
    for name in DENIED:
        p.op(_JEQ_K, arch.numbers[name], "deny", 0)
    p.op(_JEQ_K, arch.numbers["clone3"], "enosys", 0)
    p.op(_JEQ_K, arch.numbers["clone"], "clone", 0)
    p.op(_JEQ_K, arch.numbers["ioctl"], "ioctl", 0)
    p.op(_RET_K, RET_ALLOW)
    p.label("clone")
    p.op(_LD_W_ABS, _arg_low(0))  # clone(flags, ...) on both architectures
    p.op(_JSET_K, CLONE_NEW_FLAGS, "deny", 0)
    p.op(_RET_K, RET_ALLOW)
    p.label("ioctl")
    p.op(_LD_W_ABS, _arg_low(1))  # ioctl(fd, request, ...)
    p.op(_JEQ_K, TIOCSTI, "deny", 0)
    p.op(_JEQ_K, TIOCLINUX, "deny", 0)
    p.op(_RET_K, RET_ALLOW)
    p.label("enosys")
    p.op(_RET_K, RET_ERRNO | errno.ENOSYS)
    p.label("deny")
    p.op(_RET_K, eperm)
    return p.encode()


def host_arch() -> Arch | None:
    return ARCHES.get(platform.machine().lower())


def agent_filter() -> bytes | None:
    """The filter for this host's architecture; None where ptb does not know its syscall numbers
    (the sandbox then says so in solve.log: no capabilities and a non-root uid still hold)."""
    arch = host_arch()
    return None if arch is None else build_filter(arch)
