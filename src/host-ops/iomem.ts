// SPDX-License-Identifier: MIT
/**
 * iomem.ts - the MMIO family: devices whose registers the kernel reads and writes
 * through ioremap/iomem_access (virtio-mmio), and the command-line fragment that
 * announces them (virtio_devices).
 *
 * A device is a register window the host serves. The bus holds them: devices
 * given when the runtime is created, and those plugged in later (plugDevice,
 * device-host.ts). The fragment lists those plugged in before the kernel reads
 * it at boot; the kernel learns of a later one from its caller (the arch's
 * uklkl.virtio_mmio_device parameter). With no devices, ioremap finds nothing and
 * the fragment is empty.
 */
import { type HostContext, type Ptr, hex } from './context.js'

export interface MmioDevice {
  /** Guest-physical address of the register window, and its size. */
  readonly base: number
  readonly size: number
  /** The kernel command-line fragment that declares it, e.g. "virtio_mmio.device=...". */
  readonly cmdline: string
  read(offset: number, size: number): number
  write(offset: number, size: number, value: number): void
}

/** Where plugged-in devices go: above any RAM a kernel of ours gets, one page each. */
const PLUG_BASE = 0xf000_0000
const PLUG_STRIDE = 0x1000

export class MmioBus {
  readonly #devices: MmioDevice[]
  #announced = false

  constructor(devices: readonly MmioDevice[] = []) {
    this.#devices = [...devices]
  }

  get devices(): readonly MmioDevice[] {
    return this.#devices
  }

  /** The kernel has read the device list: a device added now is not on it. */
  get announced(): boolean {
    return this.#announced
  }

  /** The address of the next plugged-in device's register window (size <= one page). */
  nextBase(): number {
    return PLUG_BASE + this.#devices.filter((d) => d.base >= PLUG_BASE).length * PLUG_STRIDE
  }

  add(device: MmioDevice): void {
    this.#devices.push(device)
  }

  announce(): string {
    this.#announced = true
    return this.#devices.map((d) => d.cmdline).filter((c) => c !== '').join(' ')
  }
}

export interface IomemOps {
  ioremap(addr: number, size: number): Ptr<'void'>
  iomem_access(addr: Ptr<'void'>, val: Ptr<'void'>, size: number, write: number): number
  virtio_devices(buf: Ptr<'char'>, len: number): number
}

export function iomemOps(ctx: HostContext, bus: MmioBus): IomemOps {
  // Addresses arrive as signed i32s: the plugged-in windows lie above 2 GiB.
  const find = (signed: number, size: number): MmioDevice | undefined => {
    const addr = signed >>> 0
    return bus.devices.find((d) => addr >= d.base && addr + size <= d.base + d.size)
  }
  return {
    ioremap(addr, size) {
      return (find(addr, size) === undefined ? 0 : addr) as Ptr<'void'>
    },
    iomem_access(addr, val, size, write) {
      const device = find(addr, size)
      if (device === undefined) return -1
      if (size !== 1 && size !== 2 && size !== 4) throw ctx.misuse('iomem_access', `access of ${size} bytes at ${hex(addr)}`)
      ctx.checkRange('iomem_access', val, size)
      const view = ctx.view()
      const get = { 1: () => view.getUint8(val), 2: () => view.getUint16(val, true), 4: () => view.getUint32(val, true) }[size]
      const offset = (addr >>> 0) - device.base
      if (write !== 0) device.write(offset, size, get())
      else {
        const value = device.read(offset, size)
        if (size === 1) view.setUint8(val, value)
        else if (size === 2) view.setUint16(val, value, true)
        else view.setUint32(val, value, true)
      }
      return 0
    },
    virtio_devices(buf, len) {
      const text = new TextEncoder().encode(bus.announce())
      if (len > 0) {
        ctx.checkRange('virtio_devices', buf, len)
        const n = Math.min(text.length, len - 1)
        const bytes = ctx.bytes()
        bytes.set(text.subarray(0, n), buf)
        bytes[buf + n] = 0
      }
      return text.length
    },
  }
}
