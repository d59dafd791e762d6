// SPDX-License-Identifier: MIT
/**
 * abi.ts - the numbers of WASI preview 1 (wasi_snapshot_preview1) that both
 * sides of the bridge use: errno values, file types, flags, rights, and the
 * layouts of the structs a program and the bridge exchange.
 *
 * The values are those of the witx definitions of preview 1 (typenames.witx);
 * they are the ABI every wasm32-wasi binary is compiled against. Linux's side
 * (open flags, errno names) comes from the kernel image's constants at run
 * time, not from here. Limits: preview 1 only; preview 2 (the component model)
 * is another ABI.
 */

export const WASI_MODULE = 'wasi_snapshot_preview1'

/** errno values of preview 1, by the name of the Linux errno they stand for. */
export const WASI_ERRNO = {
  SUCCESS: 0, E2BIG: 1, EACCES: 2, EADDRINUSE: 3, EADDRNOTAVAIL: 4, EAFNOSUPPORT: 5, EAGAIN: 6, EALREADY: 7,
  EBADF: 8, EBADMSG: 9, EBUSY: 10, ECANCELED: 11, ECHILD: 12, ECONNABORTED: 13, ECONNREFUSED: 14, ECONNRESET: 15,
  EDEADLK: 16, EDESTADDRREQ: 17, EDOM: 18, EDQUOT: 19, EEXIST: 20, EFAULT: 21, EFBIG: 22, EHOSTUNREACH: 23,
  EIDRM: 24, EILSEQ: 25, EINPROGRESS: 26, EINTR: 27, EINVAL: 28, EIO: 29, EISCONN: 30, EISDIR: 31, ELOOP: 32,
  EMFILE: 33, EMLINK: 34, EMSGSIZE: 35, EMULTIHOP: 36, ENAMETOOLONG: 37, ENETDOWN: 38, ENETRESET: 39,
  ENETUNREACH: 40, ENFILE: 41, ENOBUFS: 42, ENODEV: 43, ENOENT: 44, ENOEXEC: 45, ENOLCK: 46, ENOLINK: 47,
  ENOMEM: 48, ENOMSG: 49, ENOPROTOOPT: 50, ENOSPC: 51, ENOSYS: 52, ENOTCONN: 53, ENOTDIR: 54, ENOTEMPTY: 55,
  ENOTRECOVERABLE: 56, ENOTSOCK: 57, ENOTSUP: 58, ENOTTY: 59, ENXIO: 60, EOVERFLOW: 61, EOWNERDEAD: 62,
  EPERM: 63, EPIPE: 64, EPROTO: 65, EPROTONOSUPPORT: 66, EPROTOTYPE: 67, ERANGE: 68, EROFS: 69, ESPIPE: 70,
  ESRCH: 71, ESTALE: 72, ETIMEDOUT: 73, ETXTBSY: 74, EXDEV: 75, ENOTCAPABLE: 76,
} as const

/** Linux errno names WASI spells otherwise: aliases, and codes it folds into one of its own. */
const LINUX_ALIASES: Readonly<Record<string, number>> = {
  EWOULDBLOCK: WASI_ERRNO.EAGAIN,
  EOPNOTSUPP: WASI_ERRNO.ENOTSUP,
  EDEADLOCK: WASI_ERRNO.EDEADLK,
  // Linux-only codes with a close WASI meaning.
  ENOTBLK: WASI_ERRNO.EINVAL,
  EUCLEAN: WASI_ERRNO.EIO,
  ENOKEY: WASI_ERRNO.EACCES,
  ENODATA: WASI_ERRNO.ENOENT,
  ETIME: WASI_ERRNO.ETIMEDOUT,
  ERESTARTSYS: WASI_ERRNO.EINTR,
}

/**
 * The WASI errno for a Linux errno name (a LinuxError's code). A code WASI has
 * no word for becomes EIO: the call failed, and the program is told so.
 */
export function wasiErrno(linuxCode: string): number {
  return (WASI_ERRNO as Readonly<Record<string, number>>)[linuxCode] ?? LINUX_ALIASES[linuxCode] ?? WASI_ERRNO.EIO
}

export const FILETYPE = {
  UNKNOWN: 0, BLOCK_DEVICE: 1, CHARACTER_DEVICE: 2, DIRECTORY: 3, REGULAR_FILE: 4, SOCKET_DGRAM: 5,
  SOCKET_STREAM: 6, SYMBOLIC_LINK: 7,
} as const

/* Linux's S_IFMT file types (st_mode >> 12) and dirent d_type values share one numbering (DT_* = S_IF* >> 12). */
const LINUX_TYPE_TO_WASI: ReadonlyMap<number, number> = new Map([
  [0o01, FILETYPE.UNKNOWN], // FIFO: WASI has no pipe type; wasmtime and uvwasi say unknown too
  [0o02, FILETYPE.CHARACTER_DEVICE],
  [0o04, FILETYPE.DIRECTORY],
  [0o06, FILETYPE.BLOCK_DEVICE],
  [0o10, FILETYPE.REGULAR_FILE],
  [0o12, FILETYPE.SYMBOLIC_LINK],
  [0o14, FILETYPE.SOCKET_STREAM],
])

/** The WASI file type of a Linux st_mode. */
export function fileTypeOfMode(mode: number): number {
  return LINUX_TYPE_TO_WASI.get((mode >> 12) & 0o17) ?? FILETYPE.UNKNOWN
}

/** The WASI file type of a Linux dirent64 d_type. */
export function fileTypeOfDtype(dtype: number): number {
  return LINUX_TYPE_TO_WASI.get(dtype) ?? FILETYPE.UNKNOWN
}

export const OFLAGS = { CREAT: 1, DIRECTORY: 2, EXCL: 4, TRUNC: 8 } as const
export const FDFLAGS = { APPEND: 1, DSYNC: 2, NONBLOCK: 4, RSYNC: 8, SYNC: 16 } as const
export const LOOKUP_SYMLINK_FOLLOW = 1
export const FSTFLAGS = { ATIM: 1, ATIM_NOW: 2, MTIM: 4, MTIM_NOW: 8 } as const

/** Rights, one bit each, in preview 1's order. */
export const RIGHTS = {
  FD_DATASYNC: 1n << 0n, FD_READ: 1n << 1n, FD_SEEK: 1n << 2n, FD_FDSTAT_SET_FLAGS: 1n << 3n, FD_SYNC: 1n << 4n,
  FD_TELL: 1n << 5n, FD_WRITE: 1n << 6n, FD_ADVISE: 1n << 7n, FD_ALLOCATE: 1n << 8n, PATH_CREATE_DIRECTORY: 1n << 9n,
  PATH_CREATE_FILE: 1n << 10n, PATH_LINK_SOURCE: 1n << 11n, PATH_LINK_TARGET: 1n << 12n, PATH_OPEN: 1n << 13n,
  FD_READDIR: 1n << 14n, PATH_READLINK: 1n << 15n, PATH_RENAME_SOURCE: 1n << 16n, PATH_RENAME_TARGET: 1n << 17n,
  PATH_FILESTAT_GET: 1n << 18n, PATH_FILESTAT_SET_SIZE: 1n << 19n, PATH_FILESTAT_SET_TIMES: 1n << 20n,
  FD_FILESTAT_GET: 1n << 21n, FD_FILESTAT_SET_SIZE: 1n << 22n, FD_FILESTAT_SET_TIMES: 1n << 23n, PATH_SYMLINK: 1n << 24n,
  PATH_REMOVE_DIRECTORY: 1n << 25n, PATH_UNLINK_FILE: 1n << 26n, POLL_FD_READWRITE: 1n << 27n, SOCK_SHUTDOWN: 1n << 28n,
  SOCK_ACCEPT: 1n << 29n,
} as const
export const ALL_RIGHTS = (1n << 30n) - 1n

/** Rights that need the file open for reading, and for writing: path_open picks O_RDONLY/O_WRONLY/O_RDWR from them. */
export const READ_RIGHTS = RIGHTS.FD_READ | RIGHTS.FD_READDIR
export const WRITE_RIGHTS = RIGHTS.FD_WRITE | RIGHTS.FD_DATASYNC | RIGHTS.FD_ALLOCATE | RIGHTS.FD_FILESTAT_SET_SIZE

export const EVENTTYPE = { CLOCK: 0, FD_READ: 1, FD_WRITE: 2 } as const
export const SUBCLOCK_ABSTIME = 1
export const EVENT_FD_READWRITE_HANGUP = 1
export const PREOPENTYPE_DIR = 0
export const SDFLAGS = { RD: 1, WR: 2 } as const
export const RIFLAGS = { RECV_PEEK: 1, RECV_WAITALL: 2 } as const
export const ROFLAGS_RECV_DATA_TRUNCATED = 1

/** Struct sizes and field offsets (wasm32: pointers and size_t are 4 bytes). */
export const IOVEC_SIZE = 8
export const FDSTAT_SIZE = 24
export const FILESTAT_SIZE = 64
export const PRESTAT_SIZE = 8
export const DIRENT_HEADER = 24
export const SUBSCRIPTION_SIZE = 48
export const EVENT_SIZE = 32

/** Every function of preview 1, as a module imports them: any other import is not WASI. */
export const WASI_FUNCTIONS = [
  'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'clock_res_get', 'clock_time_get',
  'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags',
  'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread',
  'fd_prestat_get', 'fd_prestat_dir_name', 'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek',
  'fd_sync', 'fd_tell', 'fd_write', 'path_create_directory', 'path_filestat_get', 'path_filestat_set_times',
  'path_link', 'path_open', 'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink',
  'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise', 'sched_yield', 'random_get', 'sock_accept',
  'sock_recv', 'sock_send', 'sock_shutdown',
] as const
export type WasiFunction = (typeof WASI_FUNCTIONS)[number]
