// SPDX-License-Identifier: MIT
/**
 * fds.ts - the kernel fds a WASI program starts with: pipes and sockets made in
 * pid 1's table (k.sys), and their move into the program's own fd table.
 *
 * Everything a program is given is first a fd of pid 1: the ends of the stdio
 * pipes the runner pumps, kernel fds the caller hands in ({ kernelFd }, e.g. one end
 * of kernelPipe()), the preopened directories and the sockets of the options
 * ({ listen } or { connect }). installFds() then gives the program's task an fd
 * table of its own holding exactly those, at 0, 1, 2, 3…, and nothing else of
 * pid 1's; the runner closes pid 1's copies afterwards, so that a pipe's end
 * lives in one process only and its reader sees end of file when its writer
 * exits.
 *
 * Limits: TCP over IPv4 and IPv6 only, addresses as literals (the kernel has
 * no resolver); a connect blocks the run's start until the connection is made
 * or refused.
 */
import { LinuxError, UklklError } from '../errors.js'
import type { Constants, Syscalls } from '../generated/kernel-api.js'
import { type IpAddress, encodeSockaddr, parseIp } from '../net/address.js'
import { listeningSocket } from '../net/socket.js'

/** A kernel fd of pid 1 (k.sys's table). Given to runWasi it is moved: runWasi closes pid 1's copy once the program holds its own. */
export interface WasiFd {
  readonly kernelFd: number
}

/**
 * A socket handed to the program, at the fds after its preopens. WASI preview 1
 * has no socket() or connect(), so the runner makes them: listen on 'HOST:PORT'
 * ('[::1]:8080' for IPv6; the program accepts with sock_accept), a connection
 * made to 'HOST:PORT' (the program sends and receives on it), or a kernel fd of
 * pid 1 made by other means (moved, as for stdio).
 */
export type WasiSocket = { listen: string, backlog?: number } | { connect: string } | WasiFd

/** The backlog of a listening socket when none is given: Linux's SOMAXCONN. */
const DEFAULT_BACKLOG = 4096

/** 'HOST:PORT' or '[V6]:PORT' as an IP and a port; a TypeError names what is wrong with it. */
export function parseSocketAddress(text: string): { ip: IpAddress, port: number } {
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(text)
  if (match === null) throw new TypeError(`a socket address is HOST:PORT or [IPV6]:PORT, not ${JSON.stringify(text)}`)
  return { ip: parseIp(match[1] ?? ''), port: Number(match[2]) }
}

/** A socket of pid 1 as spec says: listening, connected, or the caller's own. */
export async function openSocket(sys: Syscalls, c: Constants, spec: WasiSocket): Promise<number> {
  if ('kernelFd' in spec) return spec.kernelFd
  const text = 'listen' in spec ? spec.listen : spec.connect
  const { ip, port } = parseSocketAddress(text)
  try {
    if ('listen' in spec) return await listeningSocket({ sys, constants: c }, ip, port, spec.backlog ?? DEFAULT_BACKLOG)
    return await connectedSocket(sys, c, ip, port)
  } catch (error) {
    const what = 'listen' in spec ? 'listen on' : 'connect to'
    throw new UklklError(`cannot ${what} ${text}${error instanceof LinuxError ? ` (${error.code})` : ''}`, { cause: error })
  }
}

/** A TCP socket of pid 1 connected to ip:port; closed again if the connection is not made. */
async function connectedSocket(sys: Syscalls, c: Constants, ip: IpAddress, port: number): Promise<number> {
  const fd = await sys.socket(ip.family === 4 ? c.AF_INET : c.AF_INET6, c.SOCK_STREAM | c.SOCK_CLOEXEC, 0)
  try {
    const address = encodeSockaddr(ip, port)
    await sys.connect(fd, address, address.length)
    return fd
  } catch (error) {
    await sys.close(fd)
    throw error
  }
}

/** A kernel pipe in pid 1's table: give read to one program's stdin and write to another's stdout. */
export async function kernelPipe(sys: Syscalls): Promise<{ read: WasiFd, write: WasiFd }> {
  const fds = new Uint8Array(8)
  await sys.pipe2(fds, 0)
  const view = new DataView(fds.buffer)
  return { read: { kernelFd: view.getInt32(0, true) }, write: { kernelFd: view.getInt32(4, true) } }
}

/**
 * Make the calling task's fd table its own and holding only sources[i] at fd i
 * (sources are fds of pid 1, copied into the task's table by the unshare).
 */
export async function installFds(sys: Syscalls, c: Constants, sources: readonly number[]): Promise<void> {
  await sys.unshare(c.CLONE_FILES | c.CLONE_FS)
  const count = sources.length
  // Copies above the targets first: a source may itself sit at a target that another source is about to take.
  const copies: number[] = []
  for (const fd of sources) copies.push(await sys.fcntl64(fd, c.F_DUPFD, count))
  // Whatever else pid 1 had open when the table was copied is not the program's: close all but the copies.
  const keep = [...copies].sort((a, b) => a - b)
  let from = 0
  for (const fd of keep) {
    if (fd > from) await sys.close_range(from, fd - 1, 0)
    from = fd + 1
  }
  await sys.close_range(from, 0xffff_ffff, 0)
  for (const [i, fd] of copies.entries()) await sys.dup3(fd, i, 0)
  for (const fd of copies) await sys.close(fd)
}
