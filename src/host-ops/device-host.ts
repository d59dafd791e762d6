// SPDX-License-Identifier: MIT
/**
 * device-host.ts - plugging a device model (src/devices/) into a runtime: its IRQ
 * line and register window, its copies to and from guest memory, its interrupts
 * and its waits on host I/O (the DeviceHost of runtime.ts).
 *
 * The IRQ line is reserved through the kernel's kernel_get_free_irq, on a fiber;
 * the window goes on the MMIO bus. Plugged before boot, the device is on the list
 * the kernel reads at boot (virtio_mmio.device= options); plugged after, it is
 * the caller's to tell the kernel, by writing the returned <size>@<base>:<irq> into
 * the arch's parameter uklkl.virtio_mmio_device (the runtime makes no syscalls).
 * An interrupt raised from the event loop (host
 * I/O completed) is raised by a new fiber at the highest priority that calls
 * kernel_trigger_irq - never inside a host op, which may not block, while the
 * handler may wait for the CPU. One raised inside a host op (a device that
 * completed a request during the register write that submitted it) comes from
 * the thread that owns the CPU: kernel_mark_irq only marks it, and that thread
 * runs the handler at its next interrupt point.
 *
 */
import { UklklError } from '../errors.js'
import { PRIORITY_HIGHEST } from '../sched/fiber.js'
import type { Scheduler } from '../sched/scheduler.js'
import type { MmioBus } from './iomem.js'
import type { DeviceHost, DeviceRegisters } from './runtime.js'

/** A plugged-in device's window: virtio-mmio's registers and config space fit in one page. */
const MAX_WINDOW = 0x1000

export interface DeviceMachine {
  readonly sched: Scheduler
  readonly memory: WebAssembly.Memory
  readonly bus: MmioBus
  /** The kernel's exports that reserve and raise IRQ lines. */
  readonly getFreeIrq: (user: number) => unknown
  readonly triggerIrq: (irq: number) => unknown
  /** Mark an IRQ pending for the CPU's owner, from inside its host op. */
  readonly markIrq: (irq: number) => unknown
}

export async function plugDevice(
  machine: DeviceMachine, name: string, size: number, create: (host: DeviceHost) => DeviceRegisters,
): Promise<string | null> {
  const { sched, memory, bus } = machine
  if (!Number.isInteger(size) || size <= 0 || size > MAX_WINDOW) {
    throw new RangeError(`device ${name}: a register window of ${size} bytes (1..${MAX_WINDOW})`)
  }
  const irq = Number(await sched.call({ name: `irq for ${name}`, priority: PRIORITY_HIGHEST, root: { fn: machine.getFreeIrq, args: [0] } }))
  if (irq <= 0) throw new UklklError(`device ${name}: no free IRQ line (kernel_get_free_irq returned ${irq})`)
  const inMemory = (op: string, address: number, length: number): void => {
    if (!Number.isInteger(address) || address < 0 || address + length > memory.buffer.byteLength) {
      throw new UklklError(`device ${name}: ${op} of ${length} bytes at 0x${address.toString(16)} lies outside guest memory`)
    }
  }
  const host: DeviceHost = {
    memorySize: () => memory.buffer.byteLength,
    readGuest(address, into) {
      inMemory('read', address, into.length)
      // A late copy after the runtime stopped: the memory may be another kernel's now (memory-pool.ts).
      if (sched.failure !== null) {
        into.fill(0)
        return
      }
      // A fresh view each time: growing the memory detaches the old buffer.
      into.set(new Uint8Array(memory.buffer, address, into.length))
    },
    writeGuest(address, bytes) {
      inMemory('write', address, bytes.length)
      if (sched.failure !== null) return
      new Uint8Array(memory.buffer).set(bytes, address)
    },
    raiseIrq() {
      if (sched.failure !== null) return
      if (sched.inFiber) {
        machine.markIrq(irq)
        return
      }
      const fiber = sched.spawn({ name: `irq ${irq} (${name})`, priority: PRIORITY_HIGHEST, detached: true, root: { fn: machine.triggerIrq, args: [irq] } })
      if (fiber === null) sched.fail(new UklklError(`device ${name}: no memory for a fiber to raise IRQ ${irq}`))
    },
    beginIo: () => sched.beginExternalWait(),
    fail: (error) => sched.fail(error),
  }
  const registers = create(host)
  const base = bus.nextBase()
  // virtio-mmio's form of a device: <size>@<base>:<irq>.
  const device = `${size}@0x${base.toString(16)}:${irq}`
  const announced = bus.announced
  bus.add({
    base, size,
    cmdline: announced ? '' : `virtio_mmio.device=${device}`,
    read: (offset, width) => registers.read(offset, width),
    write: (offset, width, value) => registers.write(offset, width, value),
  })
  return announced ? device : null
}
