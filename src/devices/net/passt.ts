// SPDX-License-Identifier: MIT
/**
 * passt.ts - passtNic(): a NIC whose far end is Debian's passt, started here
 * for one kernel, which gives it the outside world without root or native
 * code: outgoing TCP/UDP/ICMP leave through the host's own sockets (NAT), the
 * gateway address reaches the host's loopback, TCP and UDP ports of the host's
 * loopback are forwarded into the kernel, and passt's DHCP server hands out
 * the kernel's address.
 *
 * open() makes a private directory, starts `passt -f -1 -s DIR/passt.sock`
 * (foreground, one client, its frames over a unix socket in QEMU's stream
 * format) as the calling user (--runas: as root passt would otherwise become
 * nobody, who cannot write the directory), waits for the PID file passt writes
 * once it listens, and connects a streamSocket to it. close() (the kernel
 * halts) closes the socket, stops passt and waits for it to exit, then removes
 * the directory. With -1 passt also exits by itself when its client goes
 * away, so it cannot outlive this process for long.
 *
 * The kernel's address: by default a fixed one - passt is told which address,
 * prefix and gateway to hand out (-a, -n, -g) and the same facts are on
 * `guest`; k.net.dhcp(nic) gets them from passt's DHCP server, or
 * k.net.addAddress/addRoute set them by hand. With address: 'host' passt is
 * told nothing and hands out what it derives from the host - the address and
 * prefix of the host's interface with the default route, and that route's
 * gateway (passt(1)) - so `guest` is null and k.net.dhcp(nic) is how the
 * kernel learns them. Either way passt's lease never ends, and its DNS server
 * is the host's first IPv4 nameserver (a loopback one becomes the gateway).
 *
 * Limits: IPv4 configuration only (passt's IPv6 follows the host's); forwards
 * bind the host's 127.0.0.1 only; address: 'host' needs an IPv4 default route
 * on the host (passt refuses to start without one); a missing passt binary is
 * an ENOENT error naming the package. Debian 12's passt (0.0~git20230309) does
 * not pass the host's FIN on to the kernel once the kernel has half-closed a
 * connection it opened: such a peer must answer before the kernel ends its
 * side, or the kernel's reader waits for ever. passt also forwards the UDP
 * port of each TCP forward's host port (untranslated) unless told otherwise
 * (passt(1), -u).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { UklklError } from '../../errors.js'
import { type MacAddress, nextMac, parseMac, streamSocket } from './backends.js'
import type { Frame } from './frame.js'
import type { NetBackend, NetPort } from './virtio-net.js'

/** A forward: the same port on both sides, or [port on the host's 127.0.0.1, port in the kernel]. */
export type PortForward = number | readonly [hostPort: number, guestPort: number]

export interface PasstOptions {
  /**
   * Ports of the host's loopback that passt forwards into the kernel: TCP
   * connections (tcp, passt's -t) and UDP datagrams (udp, passt's -u; the
   * kernel's answers go back to the sender).
   */
  forward?: { tcp?: readonly PortForward[], udp?: readonly PortForward[] }
  /**
   * The kernel's IPv4 address with its prefix, 10.0.2.15/24 by default; or
   * 'host': whatever passt derives from the host's default route, learnt
   * with k.net.dhcp() (guest is null then).
   */
  address?: string
  /** The gateway passt answers as (and maps to the host's loopback); 10.0.2.2 by default; not with address: 'host'. */
  gateway?: string
  /** The NIC's MAC; a made-up one, unique in this process, by default. */
  mac?: MacAddress
  /** The passt command; 'passt' (found on PATH) by default. */
  command?: string
}

/** What passt hands out, and k.net.dhcp() gets: or configure the kernel with these (k.net.addAddress(nic, guest.address) …). */
export interface PasstGuest {
  /** 'a.b.c.d/len', as k.net.addAddress takes it. */
  readonly address: string
  /** The host's loopback, as the kernel reaches it. */
  readonly gateway: string
}

/** How long passt may take to listen. */
const START_TIMEOUT_MS = 10_000
/** How long passt may take to exit once asked to. */
const STOP_TIMEOUT_MS = 5_000

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

function checkIpv4(text: string, what: string): string {
  const match = IPV4.exec(text)
  if (match === null || match.slice(1).some((part) => Number(part) > 255)) throw new TypeError(`${what} is not an IPv4 address: ${JSON.stringify(text)}`)
  return text
}

function checkPort(port: number, protocol: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`not a ${protocol} port: ${port}`)
  return port
}

/** passt's -t/-u arguments for forwards of one protocol, each bound to the host's 127.0.0.1. */
function forwardArgs(flag: string, protocol: string, forwards: readonly PortForward[]): string[] {
  return forwards.flatMap((f) => {
    const [host, guestPort] = typeof f === 'number' ? [f, f] : f
    return [flag, `127.0.0.1/${checkPort(host, protocol)}:${checkPort(guestPort, protocol)}`]
  })
}

class PasstNic implements NetBackend {
  readonly offloads = false
  readonly mac: Uint8Array
  readonly guest: PasstGuest | null
  readonly #args: readonly string[]
  readonly #command: string
  /** The socket to passt, made once open() knows where passt listens. */
  #stream: NetBackend | null = null
  #port: NetPort | null = null
  #dir: string | null = null
  #child: ChildProcess | null = null
  #exited: Promise<void> | null = null
  /** The end of passt's messages, for errors. */
  #stderr = ''

  constructor(options: PasstOptions) {
    const forwards = [...forwardArgs('-t', 'TCP', options.forward?.tcp ?? []), ...forwardArgs('-u', 'UDP', options.forward?.udp ?? [])]
    if (options.address === 'host') {
      if (options.gateway !== undefined) throw new TypeError("address: 'host' takes the host's gateway too: give no gateway")
      this.guest = null
      this.#args = forwards
    } else {
      const [ip = '', prefixText = ''] = (options.address ?? '10.0.2.15/24').split('/')
      checkIpv4(ip, 'address')
      const prefix = Number(prefixText)
      if (!/^\d+$/.test(prefixText) || prefix < 1 || prefix > 30) throw new RangeError(`the address needs a prefix length of 1 to 30: ${JSON.stringify(options.address)}`)
      const gateway = checkIpv4(options.gateway ?? '10.0.2.2', 'gateway')
      this.guest = { address: `${ip}/${prefix}`, gateway }
      this.#args = ['-a', ip, '-n', String(prefix), '-g', gateway, ...forwards]
    }
    this.#command = options.command ?? 'passt'
    this.mac = options.mac === undefined ? nextMac() : parseMac(options.mac)
  }

  get linkUp(): boolean {
    return this.#stream?.linkUp ?? false
  }

  /** passt's process id while it runs (from open() to close()). */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  attach(port: NetPort): void {
    if (this.#port !== null) throw new TypeError('this passt NIC is plugged into a kernel already')
    this.#port = port
    this.#stream?.attach(port)
  }

  send(frame: Frame): void | Promise<void> {
    return this.#stream?.send(frame)
  }

  async open(): Promise<void> {
    if (this.#dir !== null) throw new TypeError('this passt NIC was opened already; make one per kernel')
    const dir = await mkdtemp(path.join(os.tmpdir(), 'uklkl-passt-'))
    this.#dir = dir
    try {
      const socketPath = path.join(dir, 'passt.sock')
      await this.#start(dir, socketPath)
      const stream = streamSocket(socketPath, { mac: this.mac })
      if (this.#port !== null) stream.attach(this.#port)
      this.#stream = stream
      await stream.open()
    } catch (error) {
      await this.close().catch(() => undefined)
      throw error
    }
  }

  async close(): Promise<void> {
    await this.#stream?.close()
    const child = this.#child
    if (child !== null && this.#exited !== null) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const stopped = await Promise.race([this.#exited.then(() => true), delay(STOP_TIMEOUT_MS).then(() => false)])
      if (!stopped) {
        child.kill('SIGKILL')
        await this.#exited
      }
    }
    if (this.#dir !== null) await rm(this.#dir, { recursive: true, force: true })
  }

  /** Start passt and wait until it listens on socketPath. */
  async #start(dir: string, socketPath: string): Promise<void> {
    const pidFile = path.join(dir, 'passt.pid')
    const uid = process.getuid?.()
    const gid = process.getgid?.()
    const runas = uid === undefined || gid === undefined ? [] : ['--runas', `${uid}:${gid}`]
    const args = ['-f', '-1', '-s', socketPath, '-P', pidFile, ...runas, ...this.#args]
    const child = spawn(this.#command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    this.#child = child
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (text: string) => {
      // passt also reports its failures to syslog; what it prints is kept for errors.
      this.#stderr = (this.#stderr + text.split('\n').filter((l) => !l.startsWith('Failed to send')).join('\n')).slice(-2000)
    })
    let exitedEarly: Error | null = null
    this.#exited = new Promise((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) => {
        exitedEarly = error.code === 'ENOENT'
          ? Object.assign(new Error(`${this.#command} was not found: install passt (Debian package passt; scripts/install-toolchain.sh --test-tools installs it)`), {
            code: 'ENOENT', errno: error.errno, syscall: `spawn ${this.#command}`, path: this.#command,
          })
          : error
        resolve()
      })
      child.once('exit', (code, signal) => {
        // Only the start loop below reads it: a later exit (close(), or passt's -1) is no error.
        exitedEarly ??= new UklklError(`passt exited (${signal ?? `status ${code}`}) before it listened:\n${this.#stderr.trim()}`)
        resolve()
      })
    })
    // passt writes its PID file once it listens (passt(1), -P): that is the moment to connect.
    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      if (exitedEarly !== null) throw exitedEarly
      const pid = await readFile(pidFile, 'utf8').catch(() => '')
      if (pid.trim() !== '') return
      if (Date.now() > deadline) throw new UklklError(`passt did not listen within ${START_TIMEOUT_MS} ms:\n${this.#stderr.trim()}`)
      await delay(10)
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export type PasstBackend = NetBackend & { readonly guest: PasstGuest | null, readonly pid: number | undefined }

/**
 * A NIC behind passt, started for this kernel when it boots and stopped when it
 * halts: k.net.dhcp(nic) configures the kernel with what passt hands out
 * (`guest`, or with address: 'host' what passt derived from the host); the
 * gateway is the host's loopback; options.forward.tcp and .udp forward ports
 * of the host's 127.0.0.1 into the kernel.
 */
export function passtNic(options: PasstOptions = {}): PasstBackend {
  return new PasstNic(options)
}
