// SPDX-License-Identifier: MIT
/**
 * run.ts - `uklkl run [--disk IMG[:/MNT]]... [--dir PATH]... [--tcplisten ADDR]...
 * [--forward HOSTPORT[:PORT]]... [--glue FILE] prog.wasm [-- ARGS...]`: boot a
 * kernel, run a wasm32-wasi program as a process of it, stream its stdout and
 * stderr, and exit with its code.
 *
 * --disk IMG mounts the image file IMG (at /mnt/vda, /mnt/vdb, … or at :/MNT)
 * and gives it to the program under the same name; --dir PATH gives it the
 * kernel directory PATH (made if missing). With neither, the program gets the
 * kernel's root "/" (a fresh in-memory filesystem): it never sees a host path.
 * --tcplisten ADDR (HOST:PORT, wasmtime's flag) hands the program a listening
 * socket of the kernel at the fds after its preopens (fd 4 beside the default
 * "/"), with the loopback up. --forward gives the kernel a passt NIC that forwards the
 * host's 127.0.0.1:HOSTPORT to the kernel's PORT (HOSTPORT by default), so
 * that the host reaches such a server. --glue FILE runs a module that is not
 * a plain command through a JS glue module (RunWasiOptions.glue).
 * stdin is the command's stdin when it is not a terminal.
 *
 * Exit: the program's code; 2 for bad usage; 1 when the program could not run
 * (not a WASI command, a missing file); 134 when it trapped, as an abort would.
 */
import path from 'node:path'
import type { Writable } from 'node:stream'
import { WasiModuleError, WasiTrapError } from '../errors.js'
import { fileDisk } from '../devices/block/backends.js'
import { type PortForward, passtNic } from '../devices/net/passt.js'
import { startKernel } from '../kernel.js'

export const RUN_USAGE = 'uklkl run [--disk IMG[:/MNT]]... [--dir PATH]... [--tcplisten HOST:PORT]... ' +
  '[--forward HOSTPORT[:PORT]]... [--glue FILE] PROG.wasm [-- ARGS...]'

/* What a shell reports for a process that aborted (128 + SIGABRT). */
const TRAP_EXIT = 134

interface RunStreams {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: Writable
  stderr: Writable
}

interface Disk {
  image: string
  target: string | undefined
}

/** Parse and run; resolves with the exit code. */
export async function runCommand(argv: readonly string[], io: RunStreams): Promise<number> {
  const disks: Disk[] = []
  const dirs: string[] = []
  const listens: string[] = []
  const forwards: PortForward[] = []
  let glue: string | undefined
  let program: string | undefined
  let i = 0
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    if (arg === '--') {
      i++
      break
    }
    if (arg === '--disk' || arg === '--dir' || arg === '--tcplisten' || arg === '--forward' || arg === '--glue') {
      const value = argv[++i]
      if (value === undefined) return usage(io, `${arg} needs a value`)
      if (arg === '--dir') dirs.push(value)
      else if (arg === '--tcplisten') listens.push(value)
      else if (arg === '--glue') glue = value
      else if (arg === '--forward') {
        const ports = /^(\d+)(?::(\d+))?$/.exec(value)
        if (ports === null) return usage(io, `--forward takes HOSTPORT or HOSTPORT:PORT, not ${value}`)
        forwards.push([Number(ports[1]), Number(ports[2] ?? ports[1])])
      } else {
        const split = value.lastIndexOf(':/')
        disks.push(split > 0 ? { image: value.slice(0, split), target: value.slice(split + 1) } : { image: value, target: undefined })
      }
    } else if (program === undefined && !arg.startsWith('-')) program = arg
    else if (program === undefined) return usage(io, `unknown option ${arg}`)
    else break
  }
  if (program === undefined) return usage(io, 'no program')
  const args = [path.basename(program), ...argv.slice(i)]

  const nic = forwards.length > 0 ? passtNic({ forward: { tcp: forwards } }) : null
  await using k = await startKernel({ disks: disks.map((d) => fileDisk(d.image)), nics: nic === null ? [] : [nic] })
  if (listens.length > 0) await k.net.up('lo')
  const [eth] = k.net.nics
  // Through DHCP, not addAddress: passt learns the kernel's MAC from its first frame, and
  // forwards nothing to it before (IPv6, when built in, sends such frames on its own).
  if (nic !== null && eth !== undefined) await k.net.dhcp(eth)
  const preopens: Record<string, string> = {}
  for (const [index, disk] of disks.entries()) {
    const kernelDisk = k.disks[index]
    if (kernelDisk === undefined) continue
    const target = await k.mount(kernelDisk, disk.target === undefined ? {} : { target: disk.target })
    preopens[target] = target
  }
  for (const dir of dirs) {
    await k.fs.mkdir(dir, { recursive: true })
    preopens[dir] = dir
  }
  if (Object.keys(preopens).length === 0) preopens['/'] = '/'
  try {
    return await k.runWasi(program, {
      args, preopens, stdout: io.stdout, stderr: io.stderr, sockets: listens.map((listen) => ({ listen })),
      ...(glue === undefined ? {} : { glue }),
      ...(io.stdin.isTTY === true ? {} : { stdin: io.stdin as AsyncIterable<Uint8Array | string> }),
    })
  } catch (error) {
    if (error instanceof WasiTrapError) {
      io.stderr.write(`uklkl run: ${error.message}\n`)
      return TRAP_EXIT
    }
    if (error instanceof WasiModuleError || (error instanceof Error && 'code' in error && error.code === 'ENOENT')) {
      io.stderr.write(`uklkl run: ${error.message}\n`)
      return 1
    }
    throw error
  }
}

function usage(io: RunStreams, problem: string): number {
  io.stderr.write(`uklkl run: ${problem}\nusage: ${RUN_USAGE}\n`)
  return 2
}
