// SPDX-License-Identifier: MIT
/**
 * net/index.ts - k.net: a kernel's network as users see it. Its NICs (one per
 * backend given to startKernel({ nics }), with their MAC and the device's
 * counters), configuration over rtnetlink as ip(8) does it - up/down,
 * addAddress('10.0.0.1/24'), addRoute('default', { via }), interfaces() - and
 * TCP as Node streams: connect() gives a Duplex, createServer() listens in the
 * kernel. dhcp(dev) asks the link for a lease (dhcp.ts: behind passtNic, what
 * passt hands out) and applies it: the interface up, the address, a default
 * route via the router.
 *
 * An interface is named by its kernel name ('eth0', 'lo'), its ifindex, or one
 * of k.net.nics (found by its MAC: the kernel names NICs in the order it probes
 * them, which need not be the order they were given in).
 *
 * Limits: addresses and routes are added, not replaced or removed; a DHCP lease
 * is applied once and not renewed (dhcp.ts); no resolver (hosts are IP
 * literals: a lease's dns servers are reported, not used).
 */
import { LinuxError } from '../errors.js'
import { formatMac } from '../devices/net/backends.js'
import type { NetBackend, NetStats } from '../devices/net/virtio-net.js'
import type { Constants, Syscalls } from '../generated/kernel-api.js'
import { AF_INET, AF_INET6, formatIp, parseIp, parsePrefix } from './address.js'
import {
  IFA_ADDRESS, IFA_LOCAL, IFLA_ADDRESS, IFLA_CARRIER, IFLA_IFNAME, IFLA_MTU, RTA_DST, RTA_GATEWAY, RTA_OIF, RTN_UNICAST,
  RTPROT_BOOT, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE, RT_TABLE_MAIN, RouteSocket, attribute, attributes, cString, u32,
} from './netlink.js'
import { type DhcpLease, type DhcpOptions, requestLease } from './dhcp.js'
import { RawIo, type RawKernel } from './raw-io.js'
import { type ConnectOptions, KernelServer, KernelSocket, type SocketKernel } from './socket.js'

export { KernelServer, KernelSocket, type ConnectOptions }
export type { ListenOptions } from './socket.js'
export type { SocketAddress } from './address.js'
export { DhcpError, type DhcpLease, type DhcpOptions } from './dhcp.js'

/** What k.net needs of its kernel. */
export interface NetKernel extends RawKernel {
  readonly sys: Syscalls
  readonly constants: Constants
}

/** One of the kernel's virtio-net NICs. */
export class KernelNic {
  constructor(
    readonly backend: NetBackend,
    /** Counters of the device: frames and bytes each way, drops, malformed frames. */
    readonly stats: NetStats,
  ) {}

  /** 'aa:bb:cc:dd:ee:ff'. */
  get mac(): string {
    return formatMac(this.backend.mac)
  }
}

export interface InterfaceAddress {
  readonly family: 'IPv4' | 'IPv6'
  readonly address: string
  readonly prefixLength: number
}

export interface NetInterface {
  readonly index: number
  readonly name: string
  /** 'aa:bb:cc:dd:ee:ff' ('00:00:00:00:00:00' for lo). */
  readonly mac: string
  readonly mtu: number
  /** IFF_UP: brought up. */
  readonly up: boolean
  /** IFF_RUNNING: up with a carrier. */
  readonly running: boolean
  readonly loopback: boolean
  readonly addresses: readonly InterfaceAddress[]
}

/** An interface: its kernel name, its ifindex, or one of k.net.nics. */
export type InterfaceRef = string | number | KernelNic

export interface RouteOptions {
  /** The gateway; without one the destination is on the link of dev. */
  via?: string
  /** The interface; the kernel finds it from the gateway when not given. */
  dev?: InterfaceRef
}

export class KernelNet {
  /** The NICs, in the order startKernel was given their backends. */
  readonly nics: readonly KernelNic[]
  readonly #k: SocketKernel

  /** @internal Made by startKernel. */
  constructor(k: NetKernel, nics: readonly KernelNic[]) {
    this.#k = { sys: k.sys, constants: k.constants, io: new RawIo(k) }
    this.nics = nics
  }

  /** Every interface with its addresses (RTM_GETLINK and RTM_GETADDR dumps). */
  async interfaces(): Promise<NetInterface[]> {
    const { RTM_GETLINK, RTM_GETADDR, IFF_UP, IFF_RUNNING, IFF_LOOPBACK } = this.#k.constants
    return this.#route(async (route) => {
      const links = await route.dump(RTM_GETLINK, 'RTM_GETLINK', new Uint8Array(16))
      const addrs = await route.dump(RTM_GETADDR, 'RTM_GETADDR', new Uint8Array(8))
      const byIndex = new Map<number, InterfaceAddress[]>()
      for (const message of addrs) {
        const view = new DataView(message.payload.buffer)
        const family = view.getUint8(0)
        const attrs = attributes(message.payload.subarray(8))
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on point-to-point links.
        const bytes = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS)
        if (bytes === undefined || (family !== AF_INET && family !== AF_INET6)) continue
        const list = byIndex.get(view.getUint32(4, true)) ?? []
        list.push({ family: family === AF_INET ? 'IPv4' : 'IPv6', address: formatIp(bytes), prefixLength: view.getUint8(1) })
        byIndex.set(view.getUint32(4, true), list)
      }
      return links.map((message) => {
        const view = new DataView(message.payload.buffer)
        const index = view.getInt32(4, true)
        const flags = view.getUint32(8, true)
        const attrs = attributes(message.payload.subarray(16))
        const name = attrs.get(IFLA_IFNAME) ?? new Uint8Array(0)
        const mtu = attrs.get(IFLA_MTU)
        return {
          index,
          name: new TextDecoder().decode(name.subarray(0, name.indexOf(0) < 0 ? name.length : name.indexOf(0))),
          mac: formatMac(attrs.get(IFLA_ADDRESS) ?? new Uint8Array(6)),
          mtu: mtu === undefined ? 0 : new DataView(mtu.buffer, mtu.byteOffset, 4).getUint32(0, true),
          up: (flags & IFF_UP) !== 0,
          running: (flags & IFF_RUNNING) !== 0 && (attrs.get(IFLA_CARRIER)?.[0] ?? 1) !== 0,
          loopback: (flags & IFF_LOOPBACK) !== 0,
          addresses: byIndex.get(index) ?? [],
        }
      })
    })
  }

  /** The ifindex of an interface. */
  async index(dev: InterfaceRef): Promise<number> {
    if (typeof dev === 'number') return dev
    const list = await this.interfaces()
    const found = typeof dev === 'string' ? list.find((i) => i.name === dev) : list.find((i) => i.mac === dev.mac)
    if (found === undefined) throw this.#noDevice(typeof dev === 'string' ? `no interface ${dev}` : `no interface with MAC ${dev.mac}`)
    return found.index
  }

  /** The kernel name of an interface ('eth0'). */
  async name(dev: InterfaceRef): Promise<string> {
    const index = await this.index(dev)
    const found = (await this.interfaces()).find((i) => i.index === index)
    if (found === undefined) throw this.#noDevice(`no interface ${index}`)
    return found.name
  }

  /** Bring an interface up (ip link set DEV up). */
  up(dev: InterfaceRef): Promise<void> {
    return this.#setFlags(dev, this.#k.constants.IFF_UP)
  }

  /** Take an interface down (ip link set DEV down). */
  down(dev: InterfaceRef): Promise<void> {
    return this.#setFlags(dev, 0)
  }

  /** Add an address with its prefix, '10.0.0.1/24' or 'fd00::1/64' (ip addr add ADDR dev DEV). */
  async addAddress(dev: InterfaceRef, prefix: string): Promise<void> {
    const parsed = parsePrefix(prefix)
    const index = await this.index(dev)
    const { RTM_NEWADDR, NLM_F_CREATE, NLM_F_EXCL } = this.#k.constants
    const header = new Uint8Array(8)
    const view = new DataView(header.buffer)
    view.setUint8(0, parsed.family === 4 ? AF_INET : AF_INET6)
    view.setUint8(1, parsed.length)
    view.setUint8(3, RT_SCOPE_UNIVERSE)
    view.setUint32(4, index, true)
    await this.#route((route) => route.request(RTM_NEWADDR, 'RTM_NEWADDR', NLM_F_CREATE | NLM_F_EXCL, header, [
      attribute(IFA_LOCAL, parsed.bytes),
      attribute(IFA_ADDRESS, parsed.bytes),
    ]))
  }

  /**
   * Add a route to destination ('default', '10.1.0.0/16', 'fd00::/64') through
   * a gateway (via) or straight onto a link (dev) (ip route add).
   */
  async addRoute(destination: string, options: RouteOptions): Promise<void> {
    if (options.via === undefined && options.dev === undefined) throw new TypeError('addRoute needs a gateway (via), a device (dev), or both')
    const gateway = options.via === undefined ? null : parseIp(options.via)
    const target = destination === 'default'
      ? { family: gateway?.family ?? 4, bytes: new Uint8Array(gateway?.family === 6 ? 16 : 4), length: 0 }
      : parsePrefix(destination)
    if (gateway !== null && gateway.family !== target.family) throw new TypeError(`the gateway ${options.via} is not of ${destination}'s family`)
    const { RTM_NEWROUTE, NLM_F_CREATE, NLM_F_EXCL } = this.#k.constants
    const header = new Uint8Array(12)
    header.set([target.family === 4 ? AF_INET : AF_INET6, target.length, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
      gateway === null ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE, RTN_UNICAST])
    const attrs: Uint8Array[] = []
    if (target.length > 0) attrs.push(attribute(RTA_DST, target.bytes))
    if (gateway !== null) attrs.push(attribute(RTA_GATEWAY, gateway.bytes))
    if (options.dev !== undefined) attrs.push(attribute(RTA_OIF, u32(await this.index(options.dev))))
    await this.#route((route) => route.request(RTM_NEWROUTE, 'RTM_NEWROUTE', NLM_F_CREATE | NLM_F_EXCL, header, attrs))
  }

  /**
   * Ask the interface's link for a DHCP lease and apply it (dhclient's job):
   * bring the interface up, add the leased address, and a default route via
   * the router. An address or default route that exists already is left as it
   * is (EEXIST is not an error: asking twice gives the same lease). Resolves
   * with the lease; no lease within timeoutMs (10 s) rejects with a DhcpError,
   * code ETIMEDOUT, naming the interface.
   */
  async dhcp(dev: InterfaceRef, options: DhcpOptions = {}): Promise<DhcpLease> {
    const index = await this.index(dev)
    const found = (await this.interfaces()).find((i) => i.index === index)
    if (found === undefined) throw this.#noDevice(`no interface ${index}`)
    await this.up(index)
    const mac = Uint8Array.from(found.mac.split(':'), (part) => Number.parseInt(part, 16))
    const lease = await requestLease(this.#k, { index, name: found.name, mac }, options)
    await this.addAddress(index, lease.address).catch(exists)
    if (lease.router !== undefined) await this.addRoute('default', { via: lease.router, dev: index }).catch(exists)
    return lease
  }

  /** A TCP connection from the kernel, as a Duplex; 'connect' when it is made, 'error' if it is not. */
  connect(options: ConnectOptions): KernelSocket {
    return new KernelSocket(this.#k, { connect: options })
  }

  /** A TCP server in the kernel; call listen() on it. */
  createServer(onConnection?: (socket: KernelSocket) => void): KernelServer {
    return new KernelServer(this.#k, onConnection)
  }

  async #setFlags(dev: InterfaceRef, flags: number): Promise<void> {
    const { RTM_NEWLINK, IFF_UP } = this.#k.constants
    const header = new Uint8Array(16)
    const view = new DataView(header.buffer)
    // ifi_change says which flag bits ifi_flags sets: IFF_UP alone.
    const attrs: Uint8Array[] = []
    if (typeof dev === 'string') attrs.push(attribute(IFLA_IFNAME, cString(dev)))
    else view.setInt32(4, await this.index(dev), true)
    view.setUint32(8, flags, true)
    view.setUint32(12, IFF_UP, true)
    await this.#route((route) => route.request(RTM_NEWLINK, 'RTM_NEWLINK', 0, header, attrs))
  }

  async #route<T>(fn: (route: RouteSocket) => Promise<T>): Promise<T> {
    const route = await RouteSocket.open(this.#k.sys, this.#k.constants, (errno) => this.#k.io.errnoName(errno))
    try {
      return await fn(route)
    } finally {
      await route.close()
    }
  }

  #noDevice(what: string): LinuxError {
    return new LinuxError(this.#k.constants.ENODEV, 'ENODEV', what)
  }
}

/** Let EEXIST pass (what was to be added is there already); rethrow anything else. */
function exists(error: unknown): void {
  if (!(error instanceof LinuxError && error.code === 'EEXIST')) throw error
}
