// SPDX-License-Identifier: MIT
/**
 * socket.ts - kernel TCP sockets as Node streams: KernelSocket is a Duplex
 * over a connected socket of the kernel (k.net.connect, or accepted by a
 * KernelServer), shaped enough like net.Socket that Node's own http client and
 * server run over it (http.request({ createConnection }),
 * server.emit('connection', socket)).
 *
 * Reading is a loop of blocking reads on a kernel thread of its own while the
 * stream wants data (it stops when push() says the consumer is full, and goes
 * on at the next _read); writes are blocking sends of at most 256 KiB each
 * (MSG_NOSIGNAL: EPIPE comes back as an error, never a signal). end() shuts the
 * sending side down; destroy() shuts both down - which wakes a read or send
 * blocked on another thread - then closes the descriptor. A failing call
 * destroys the stream with the kernel's error (ECONNRESET, EPIPE, ECONNREFUSED,
 * ETIMEDOUT: code, errno, syscall, as Node's).
 *
 * Limits: TCP over IPv4 and IPv6 only; each open socket keeps one kernel thread
 * blocked in read; setKeepAlive's delay and ref()/unref() are accepted and do
 * nothing (the kernel's keepalive interval is its sysctl's; the kernel, not the
 * socket, decides whether the process stays up).
 */
import { EventEmitter } from 'node:events'
import { Duplex } from 'node:stream'
import type { Constants, Syscalls } from '../generated/kernel-api.js'
import { KernelStoppedError, LinuxError } from '../errors.js'
import { type IpAddress, SOCKADDR_MAX, type SocketAddress, decodeSockaddr, encodeSockaddr, parseIp } from './address.js'
import type { RawIo } from './raw-io.js'

/** What a socket needs of its kernel. */
export interface SocketKernel {
  readonly sys: Syscalls
  readonly constants: Constants
  /** The data path: reads and sends through the user arena. */
  readonly io: RawIo
}

/** Bytes per read: large reads let the kernel hand over a whole TSO segment at once. */
const READ_SIZE = 256 * 1024
/** Bytes per send: what is staged in the user arena for one call. */
const WRITE_SIZE = 256 * 1024

export interface ConnectOptions {
  /** An IPv4 or IPv6 address (or 'localhost'; 127.0.0.1 by default); the kernel has no resolver. */
  host?: string
  port: number
  /** Bind to this local address (and localPort) before connecting. */
  localAddress?: string
  localPort?: number
  /** Set TCP_NODELAY at once. */
  noDelay?: boolean
}

async function sockname(k: SocketKernel, fd: number, peer: boolean): Promise<SocketAddress | null> {
  const address = new Uint8Array(SOCKADDR_MAX)
  const length = new Uint8Array(4)
  new DataView(length.buffer).setUint32(0, SOCKADDR_MAX, true)
  await (peer ? k.sys.getpeername(fd, address, length) : k.sys.getsockname(fd, address, length))
  return decodeSockaddr(address.subarray(0, new DataView(length.buffer).getUint32(0, true)))
}

export class KernelSocket extends Duplex {
  remoteAddress: string | undefined
  remotePort: number | undefined
  remoteFamily: string | undefined
  localAddress: string | undefined
  localPort: number | undefined
  bytesRead = 0
  bytesWritten = 0
  /** True until the connection is made (net.Socket's name). */
  connecting: boolean
  readonly #k: SocketKernel
  #fd: number | null
  readonly #connect: ConnectOptions | null
  #reading = false
  /** Sends in flight (a send blocks while the peer's window is full). */
  #sending = 0
  #closing: Promise<void> | null = null
  #timeoutMs = 0
  #timer: ReturnType<typeof setTimeout> | null = null

  /** @internal Use k.net.connect() or a KernelServer. */
  constructor(k: SocketKernel, from: { fd: number, remote: SocketAddress | null } | { connect: ConnectOptions }) {
    super({ allowHalfOpen: false })
    this.#k = k
    if ('fd' in from) {
      this.#fd = from.fd
      this.#connect = null
      this.connecting = false
      // Known at once, as net.Socket's are when 'connection' is emitted; the local side follows in _construct.
      this.remoteAddress = from.remote?.address
      this.remotePort = from.remote?.port
      this.remoteFamily = from.remote?.family
    } else {
      this.#fd = null
      this.#connect = from.connect
      this.connecting = true
    }
  }

  /** The kernel's descriptor (null before the socket exists and after it is closed). */
  get fd(): number | null {
    return this.#fd
  }

  override _construct(callback: (error?: Error | null) => void): void {
    this.#open().then(() => {
      callback()
      // Read from the start, as net.Socket does: a reset or an end shows up even with nobody reading yet.
      this.read(0)
    }, (error: unknown) => callback(asError(error)))
  }

  async #open(): Promise<void> {
    const { sys, constants } = this.#k
    if (this.#connect === null) {
      await this.#learnAddresses()
      return
    }
    const { host = '127.0.0.1', port, localAddress, localPort, noDelay } = this.#connect
    const ip = parseIp(host)
    const fd = await sys.socket(ip.family === 4 ? constants.AF_INET : constants.AF_INET6, constants.SOCK_STREAM | constants.SOCK_CLOEXEC, 0)
    this.#fd = fd
    try {
      if (localAddress !== undefined || localPort !== undefined) {
        const local = encodeSockaddr(parseIp(localAddress ?? (ip.family === 4 ? '0.0.0.0' : '::')), localPort ?? 0)
        await sys.bind(fd, local, local.length)
      }
      if (noDelay === true) await this.#setOption(constants.IPPROTO_TCP, constants.TCP_NODELAY, 1)
      const remote = encodeSockaddr(ip, port)
      await sys.connect(fd, remote, remote.length)
      await this.#learnAddresses()
    } catch (error) {
      this.#fd = null
      await sys.close(fd).catch(() => undefined)
      throw error
    }
    this.connecting = false
    this.emit('connect')
    this.emit('ready')
  }

  async #learnAddresses(): Promise<void> {
    const fd = this.#fd
    if (fd === null) return
    // A connection reset already has no peer name: the first read reports the reset, not this.
    const [local, remote] = await Promise.all([
      sockname(this.#k, fd, false).catch(() => null),
      this.remoteAddress === undefined ? sockname(this.#k, fd, true).catch(() => null) : null,
    ])
    this.localAddress = local?.address
    this.localPort = local?.port
    if (remote !== null) {
      this.remoteAddress = remote.address
      this.remotePort = remote.port
      this.remoteFamily = remote.family
    }
  }

  override _read(): void {
    if (this.#reading) return
    this.#reading = true
    void this.#readLoop()
  }

  async #readLoop(): Promise<void> {
    const fd = this.#fd
    if (fd === null) return
    try {
      for (;;) {
        const data = await this.#k.io.read(fd, READ_SIZE)
        if (this.destroyed) return
        this.#touch()
        if (data.length === 0) {
          this.push(null)
          return
        }
        this.bytesRead += data.length
        if (!this.push(data)) break
      }
      this.#reading = false
    } catch (error) {
      if (!this.destroyed) this.destroy(asError(error))
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk).then(() => callback(), (error: unknown) => callback(asError(error)))
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#send(Buffer.concat(chunks.map((c) => c.chunk))).then(() => callback(), (error: unknown) => callback(asError(error)))
  }

  async #send(bytes: Uint8Array): Promise<void> {
    const fd = this.#fd
    if (fd === null) throw new KernelStoppedError('the socket is closed')
    this.#sending++
    try {
      for (let at = 0; at < bytes.length;) {
        const piece = bytes.subarray(at, Math.min(bytes.length, at + WRITE_SIZE))
        const n = await this.#k.io.send(fd, piece, this.#k.constants.MSG_NOSIGNAL)
        at += n
        this.bytesWritten += n
        this.#touch()
      }
    } finally {
      this.#sending--
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    const fd = this.#fd
    if (fd === null) {
      callback()
      return
    }
    this.#k.sys.shutdown(fd, this.#k.constants.SHUT_WR).then(() => callback(), (error: unknown) => {
      // The peer is gone already: nothing is left to tell it.
      if (error instanceof LinuxError && error.code === 'ENOTCONN') callback()
      else callback(asError(error))
    })
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearTimer()
    this.#release().then(() => callback(error), () => callback(error))
  }

  /**
   * Wake the threads blocked on the socket, then close the descriptor; once.
   * close() alone would wait for them (they hold the file). Shutting the
   * receive side wakes a read and sends nothing, so the close that follows
   * ends the connection as net.Socket's destroy does (FIN, or RST with unread
   * data or SO_LINGER 0); a send blocked on a full window is only woken by
   * shutting the sending side too, which sends FIN.
   */
  #release(): Promise<void> {
    this.#closing ??= (async () => {
      const fd = this.#fd
      if (fd === null) return
      this.#fd = null
      const { sys, constants } = this.#k
      await sys.shutdown(fd, this.#sending > 0 ? constants.SHUT_RDWR : constants.SHUT_RD).catch(() => undefined)
      await sys.close(fd).catch(() => undefined)
    })()
    return this.#closing
  }

  /** TCP_NODELAY on (by default) or off. */
  setNoDelay(noDelay = true): this {
    void this.#whenOpen(() => this.#setOption(this.#k.constants.IPPROTO_TCP, this.#k.constants.TCP_NODELAY, noDelay ? 1 : 0))
    return this
  }

  /** SO_KEEPALIVE on or off (the interval is the kernel's). */
  setKeepAlive(enable = false): this {
    void this.#whenOpen(() => this.#setOption(this.#k.constants.SOL_SOCKET, this.#k.constants.SO_KEEPALIVE, enable ? 1 : 0))
    return this
  }

  /** Emit 'timeout' after ms without reads or writes (0: never), as net.Socket does. */
  setTimeout(ms: number, onTimeout?: () => void): this {
    this.#timeoutMs = ms
    if (onTimeout !== undefined) {
      if (ms === 0) this.off('timeout', onTimeout)
      else this.once('timeout', onTimeout)
    }
    this.#touch()
    return this
  }

  address(): SocketAddress | Record<string, never> {
    if (this.localAddress === undefined || this.localPort === undefined) return {}
    return { address: this.localAddress, family: this.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4', port: this.localPort }
  }

  ref(): this {
    return this
  }

  unref(): this {
    return this
  }

  /** end(), then destroy once the other side has ended too (net.Socket's destroySoon). */
  destroySoon(): void {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once('finish', () => this.destroy())
  }

  async #whenOpen(fn: () => Promise<void>): Promise<void> {
    if (this.connecting) await new Promise((resolve) => this.once('connect', resolve))
    if (this.#fd !== null) await fn().catch((error: unknown) => this.destroy(asError(error)))
  }

  async #setOption(level: number, name: number, value: number): Promise<void> {
    const fd = this.#fd
    if (fd === null) return
    const bytes = new Uint8Array(4)
    new DataView(bytes.buffer).setInt32(0, value, true)
    await this.#k.sys.setsockopt(fd, level, name, bytes, 4)
  }

  #touch(): void {
    this.#clearTimer()
    if (this.#timeoutMs > 0 && !this.destroyed) {
      this.#timer = setTimeout(() => this.emit('timeout'), this.#timeoutMs)
      this.#timer.unref()
    }
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }
}

export interface ListenOptions {
  /** 0 (the default) lets the kernel choose one. */
  port?: number
  /** The address to listen on; every IPv4 address (0.0.0.0) by default. */
  host?: string
  backlog?: number
}

/**
 * A TCP socket of the calling kernel thread listening on ip:port, or, when a step
 * fails, none (the socket is closed again and the error thrown). SO_REUSEADDR: a
 * server restarted on its port need not wait out the last one's TIME_WAIT.
 */
export async function listeningSocket(
  k: Pick<SocketKernel, 'sys' | 'constants'>, ip: IpAddress, port: number, backlog: number,
): Promise<number> {
  const { sys, constants } = k
  const fd = await sys.socket(ip.family === 4 ? constants.AF_INET : constants.AF_INET6, constants.SOCK_STREAM | constants.SOCK_CLOEXEC, 0)
  try {
    const one = new Uint8Array(4)
    new DataView(one.buffer).setInt32(0, 1, true)
    await sys.setsockopt(fd, constants.SOL_SOCKET, constants.SO_REUSEADDR, one, 4)
    const address = encodeSockaddr(ip, port)
    await sys.bind(fd, address, address.length)
    await sys.listen(fd, backlog)
    return fd
  } catch (error) {
    await sys.close(fd).catch(() => undefined)
    throw error
  }
}

/**
 * A listening TCP socket in the kernel: each accepted connection is a
 * KernelSocket, emitted as 'connection' (and given to the onConnection of
 * createServer). Errors of the accept loop are emitted as 'error'.
 */
export class KernelServer extends EventEmitter<{ connection: [KernelSocket], listening: [], close: [], error: [Error] }> {
  readonly #k: SocketKernel
  #fd: number | null = null
  #address: SocketAddress | null = null
  #accepting: Promise<void> | null = null

  /** @internal Use k.net.createServer(). */
  constructor(k: SocketKernel, onConnection?: (socket: KernelSocket) => void) {
    super()
    this.#k = k
    if (onConnection !== undefined) this.on('connection', onConnection)
  }

  get listening(): boolean {
    return this.#fd !== null
  }

  /** Bind and listen; resolves with the address (the port the kernel chose, for port 0). */
  async listen(options: ListenOptions | number = {}): Promise<SocketAddress> {
    if (this.#fd !== null) throw new TypeError('the server is listening already')
    const { port = 0, host = '0.0.0.0', backlog = 511 } = typeof options === 'number' ? { port: options } : options
    const { sys } = this.#k
    const fd = await listeningSocket(this.#k, parseIp(host), port, backlog)
    try {
      this.#address = await sockname(this.#k, fd, false)
    } catch (error) {
      await sys.close(fd).catch(() => undefined)
      throw error
    }
    const address = this.#address
    if (address === null) {
      await sys.close(fd).catch(() => undefined)
      throw new TypeError('the kernel gave a listening socket no IP address')
    }
    this.#fd = fd
    this.#accepting = this.#acceptLoop(fd)
    this.emit('listening')
    return address
  }

  address(): SocketAddress | null {
    return this.#address
  }

  /** Stop listening (connections already accepted stay open); resolves once the socket is closed. */
  async close(): Promise<void> {
    const fd = this.#fd
    if (fd === null) return
    this.#fd = null
    const { sys, constants } = this.#k
    // Shutting a listener down wakes the accept blocked on it (EINVAL).
    await sys.shutdown(fd, constants.SHUT_RDWR).catch(() => undefined)
    await this.#accepting
    await sys.close(fd).catch(() => undefined)
    this.emit('close')
  }

  async #acceptLoop(fd: number): Promise<void> {
    const { sys, constants } = this.#k
    for (;;) {
      let connection: number
      const peer = new Uint8Array(SOCKADDR_MAX)
      const peerLength = new Uint8Array(4)
      new DataView(peerLength.buffer).setUint32(0, SOCKADDR_MAX, true)
      try {
        connection = await sys.accept4(fd, peer, peerLength, constants.SOCK_CLOEXEC)
      } catch (error) {
        // close() ended the loop; a kernel that stopped ends the server; anything else is the listener's failure.
        if (this.#fd === fd) {
          this.#fd = null
          if (error instanceof KernelStoppedError) {
            this.emit('close')
            return
          }
          await sys.close(fd).catch(() => undefined)
          this.emit('error', asError(error))
        }
        return
      }
      if (this.#fd !== fd) {
        await sys.close(connection).catch(() => undefined)
        return
      }
      const remote = decodeSockaddr(peer.subarray(0, new DataView(peerLength.buffer).getUint32(0, true)))
      const socket = new KernelSocket(this.#k, { fd: connection, remote })
      // The local address is learnt in _construct: the stream buffers writes until then.
      this.emit('connection', socket)
    }
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
