// SPDX-License-Identifier: MIT
/**
 * virtio.test.ts - the virtio devices without a kernel: the split-ring walker, the
 * virtio-mmio transport and virtio-blk, driven by a driver written from the virtio
 * 1.x spec (test/support/virtio-driver.ts) over guest memory in a plain
 * ArrayBuffer; and the block backends (memory, overlay, file with its lock).
 *
 * Every malformed ring must be a VirtioError - never the fake guest's own range
 * error (a device that trusted an address), a TypeError or a walk that never ends
 * (the fake guest gives up after a budget of reads). The file backend is checked
 * against node:fs on a temporary file.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type BlockBackend, SECTOR, fileDisk, memoryDisk, overlayDisk } from '../../src/devices/block/backends.js'
import { VirtioBlk } from '../../src/devices/block/virtio-blk.js'
import { VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, type VirtioModel, VirtioMmio } from '../../src/devices/virtio/mmio.js'
import { type Chain, SplitQueue } from '../../src/devices/virtio/virtqueue.js'
import { ImageLockedError, VirtioError } from '../../src/errors.js'
import { Prng } from '../fuzz/prng.js'
import {
  AVAIL_F_NO_INTERRUPT, BLK, BLK_S, DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, DriverRing, F_INDIRECT_DESC, F_VERSION_1,
  FakeGuest, MmioDriver, REG, STATUS, STATUS_UNWRITTEN, blkRequest,
} from '../support/virtio-driver.js'

/** Guest memory of the ring tests: small, so that "beyond memory" is near. */
const RING_MEMORY = 64 * 1024
/** Guest memory of the block tests: room for a few MiB of request buffers. */
const BLK_MEMORY = 4 * 1024 * 1024

function walker(guest: FakeGuest, ring: DriverRing, signal: (q: SplitQueue) => void = () => undefined): SplitQueue {
  return new SplitQueue(guest, 'test queue', ring.size, ring.rings, signal)
}

function freshRing(size = 8): { guest: FakeGuest, ring: DriverRing, queue: SplitQueue } {
  const guest = new FakeGuest(RING_MEMORY)
  const ring = new DriverRing(guest, size)
  return { guest, ring, queue: walker(guest, ring) }
}

/** A pattern that differs in every byte of a sector and in every sector. */
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (i * 13 + Math.floor(i / SECTOR) * 101 + seed) & 0xff
  return bytes
}

/** Whether two byte ranges are equal (vitest's deep equality is slow on large arrays). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

/** What fn throws (undefined when it returns). */
function caught(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}

/** Let promise chains and setImmediate callbacks run, a bounded number of turns. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Turns until the device has no host I/O left (bounded: a request that never settles fails the test). */
async function settle(guest: FakeGuest): Promise<void> {
  for (let i = 0; i < 200 && guest.ioPending > 0; i++) await turns(1)
  expect(guest.ioPending, 'host I/O still pending after 200 turns').toBe(0)
}

describe('SplitQueue: well-formed chains', () => {
  it('a simple chain gives its buffers in order, then the ring is empty', () => {
    const { guest, ring, queue } = freshRing()
    const a = guest.alloc(16)
    const b = guest.alloc(32)
    const head = ring.chain([{ address: a, length: 16 }, { address: b, length: 32 }])
    expect(queue.pop()).toEqual({ head, readable: [{ address: a, length: 16 }, { address: b, length: 32 }], writable: [] })
    expect(queue.pop(), 'a second pop found a chain the driver never offered').toBeNull()
  })

  it('readable buffers, then writable ones, come apart', () => {
    const { guest, ring, queue } = freshRing()
    const [r1, r2, w1, w2] = [guest.alloc(8), guest.alloc(8), guest.alloc(512), guest.alloc(1)]
    const head = ring.chain([
      { address: r1, length: 8 }, { address: r2, length: 8 }, { address: w1, length: 512, write: true }, { address: w2, length: 1, write: true },
    ])
    expect(queue.pop()).toEqual({
      head, readable: [{ address: r1, length: 8 }, { address: r2, length: 8 }], writable: [{ address: w1, length: 512 }, { address: w2, length: 1 }],
    })
  })

  it('an indirect table is followed', () => {
    const { guest, ring, queue } = freshRing()
    const [r, w1, w2] = [guest.alloc(16), guest.alloc(4096), guest.alloc(1)]
    const head = ring.indirect([{ address: r, length: 16 }, { address: w1, length: 4096, write: true }, { address: w2, length: 1, write: true }])
    expect(queue.pop()).toEqual({ head, readable: [{ address: r, length: 16 }], writable: [{ address: w1, length: 4096 }, { address: w2, length: 1 }] })
  })

  it('direct descriptors followed by an indirect one make one chain (2.7.5.3.2)', () => {
    const { guest, ring, queue } = freshRing()
    const [r, w] = [guest.alloc(16), guest.alloc(64)]
    const table = guest.alloc(16)
    ring.setDesc(0, { address: w, length: 64, flags: DESC_F_WRITE }, table)
    ring.setDesc(5, { address: r, length: 16, flags: DESC_F_NEXT, next: 6 })
    ring.setDesc(6, { address: table, length: 16, flags: DESC_F_INDIRECT })
    ring.offer(5)
    expect(queue.pop()).toEqual({ head: 5, readable: [{ address: r, length: 16 }], writable: [{ address: w, length: 64 }] })
  })

  it('a buffer that ends exactly at the end of guest memory is accepted', () => {
    const { ring, queue } = freshRing()
    ring.setDesc(0, { address: RING_MEMORY - 16, length: 16, flags: DESC_F_WRITE })
    ring.offer(0)
    expect(queue.pop()?.writable).toEqual([{ address: RING_MEMORY - 16, length: 16 }])
  })
})

describe('SplitQueue: a malformed ring is a VirtioError, never a trap or a hang', () => {
  /** Offer what setup lays out, then expect the walk to fail with a VirtioError matching detail, writing nothing. */
  function refused(setup: (ring: DriverRing, guest: FakeGuest) => void, detail: RegExp): void {
    const { guest, ring, queue } = freshRing()
    setup(ring, guest)
    const writes = guest.writes.length
    const error = caught(() => queue.pop())
    expect(error).toBeInstanceOf(VirtioError)
    expect(String(error)).toMatch(detail)
    expect(guest.writes.length, 'a refused chain still wrote into guest memory').toBe(writes)
  }

  it('a buffer reaching beyond guest memory', () => {
    refused((ring) => {
      ring.setDesc(0, { address: RING_MEMORY - 8, length: 16, flags: 0 })
      ring.offer(0)
    }, /outside guest memory/)
  })

  it('a buffer whose 32-bit end wraps around (address 0xfffffff0, 32 bytes)', () => {
    refused((ring) => {
      ring.setDesc(0, { address: 0xffff_fff0, length: 32, flags: 0 })
      ring.offer(0)
    }, /outside guest memory/)
  })

  it('an address with high 32 bits set', () => {
    refused((ring, guest) => {
      ring.setDesc(0, { address: guest.alloc(16), high: 1, length: 16, flags: 0 })
      ring.offer(0)
    }, /outside guest memory/)
  })

  it('a chain whose next points back to an earlier descriptor', () => {
    refused((ring, guest) => {
      const b = guest.alloc(16)
      ring.setDesc(0, { address: b, length: 16, flags: DESC_F_NEXT, next: 1 })
      ring.setDesc(1, { address: b, length: 16, flags: DESC_F_NEXT, next: 0 })
      ring.offer(0)
    }, /loop/)
  })

  it('a descriptor that is its own next', () => {
    refused((ring, guest) => {
      ring.setDesc(3, { address: guest.alloc(16), length: 16, flags: DESC_F_NEXT, next: 3 })
      ring.offer(3)
    }, /loop/)
  })

  it('a chain longer than the queue (through every descriptor and around again)', () => {
    refused((ring, guest) => {
      const b = guest.alloc(16)
      for (let i = 0; i < ring.size; i++) ring.setDesc(i, { address: b, length: 16, flags: DESC_F_NEXT, next: (i + 1) % ring.size })
      ring.offer(0)
    }, /loop/)
  })

  it('a head index ≥ the queue size', () => {
    refused((ring) => ring.offer(ring.size), /descriptor index 8 beyond a table of 8/)
  })

  it('a next index ≥ the queue size', () => {
    refused((ring, guest) => {
      ring.setDesc(0, { address: guest.alloc(16), length: 16, flags: DESC_F_NEXT, next: 200 })
      ring.offer(0)
    }, /descriptor index 200/)
  })

  it('an available index more than the queue size ahead', () => {
    refused((ring) => ring.setAvailIdx(ring.size + 1), /available index 9 is 9 entries ahead/)
  })

  it('a readable buffer after a writable one', () => {
    refused((ring, guest) => {
      ring.chain([{ address: guest.alloc(16), length: 16, write: true }, { address: guest.alloc(16), length: 16 }])
    }, /readable buffer after a writable/)
  })

  it('an indirect table inside an indirect table', () => {
    refused((ring, guest) => {
      const inner = guest.alloc(16)
      ring.setDesc(0, { address: guest.alloc(16), length: 16, flags: 0 }, inner)
      const outer = guest.alloc(16)
      ring.setDesc(0, { address: inner, length: 16, flags: DESC_F_INDIRECT }, outer)
      ring.setDesc(0, { address: outer, length: 16, flags: DESC_F_INDIRECT })
      ring.offer(0)
    }, /indirect table inside an indirect table/)
  })

  it('an indirect descriptor with NEXT set', () => {
    refused((ring, guest) => {
      const table = guest.alloc(16)
      ring.setDesc(0, { address: guest.alloc(16), length: 16, flags: 0 }, table)
      ring.setDesc(0, { address: table, length: 16, flags: DESC_F_INDIRECT | DESC_F_NEXT, next: 1 })
      ring.setDesc(1, { address: guest.alloc(16), length: 16, flags: 0 })
      ring.offer(0)
    }, /indirect descriptor with NEXT/)
  })

  for (const length of [24, 0, 8]) {
    it(`an indirect table of ${length} bytes (not a whole number of descriptors)`, () => {
      refused((ring, guest) => {
        ring.setDesc(0, { address: guest.alloc(32), length, flags: DESC_F_INDIRECT })
        ring.offer(0)
      }, new RegExp(`an indirect table of ${length} bytes`))
    })
  }

  it('an indirect table of more descriptors than the queue holds', () => {
    refused((ring, guest) => {
      const entries = ring.size * 2
      ring.setDesc(0, { address: guest.alloc(16 * entries), length: 16 * entries, flags: DESC_F_INDIRECT })
      ring.offer(0)
    }, /an indirect table of 16 descriptors in a queue of 8/)
  })

  it('an indirect table reaching beyond guest memory', () => {
    refused((ring) => {
      ring.setDesc(0, { address: RING_MEMORY - 16, length: 32, flags: DESC_F_INDIRECT })
      ring.offer(0)
    }, /outside guest memory/)
  })

  it('a loop inside an indirect table', () => {
    refused((ring, guest) => {
      const table = guest.alloc(32)
      const b = guest.alloc(16)
      ring.setDesc(0, { address: b, length: 16, flags: DESC_F_NEXT, next: 1 }, table)
      ring.setDesc(1, { address: b, length: 16, flags: DESC_F_NEXT, next: 0 }, table)
      ring.setDesc(0, { address: table, length: 32, flags: DESC_F_INDIRECT })
      ring.offer(0)
    }, /loop/)
  })

  it('a next index beyond an indirect table', () => {
    refused((ring, guest) => {
      const table = guest.alloc(32)
      ring.setDesc(0, { address: guest.alloc(16), length: 16, flags: DESC_F_NEXT, next: 2 }, table)
      ring.setDesc(0, { address: table, length: 32, flags: DESC_F_INDIRECT })
      ring.offer(0)
    }, /descriptor index 2 beyond a table of 2/)
  })

  it('a buffer of an indirect table beyond guest memory', () => {
    refused((ring, guest) => {
      const table = guest.alloc(16)
      ring.setDesc(0, { address: RING_MEMORY, length: 1, flags: DESC_F_WRITE }, table)
      ring.setDesc(0, { address: table, length: 16, flags: DESC_F_INDIRECT })
      ring.offer(0)
    }, /outside guest memory/)
  })

  describe('rings the driver placed badly are refused when the queue is made', () => {
    const cases: [string, (r: { desc: number, avail: number, used: number }) => { desc: number, avail: number, used: number }, RegExp][] = [
      ['a descriptor table not 16-byte aligned', (r) => ({ ...r, desc: r.desc + 8 }), /descriptor table .* not 16-byte aligned/],
      ['an available ring at an odd address', (r) => ({ ...r, avail: r.avail + 1 }), /available ring .* not 2-byte aligned/],
      ['a used ring not 4-byte aligned', (r) => ({ ...r, used: r.used + 2 }), /used ring .* not 4-byte aligned/],
      ['a descriptor table running past the end of memory', (r) => ({ ...r, desc: RING_MEMORY - 16 }), /descriptor table .* outside guest memory/],
      ['an available ring running past the end of memory', (r) => ({ ...r, avail: RING_MEMORY - 8 }), /available ring .* outside guest memory/],
      ['a used ring running past the end of memory', (r) => ({ ...r, used: RING_MEMORY - 8 }), /used ring .* outside guest memory/],
      ['a used ring far beyond memory', (r) => ({ ...r, used: 0xffff_fff0 }), /used ring .* outside guest memory/],
    ]
    for (const [what, move, detail] of cases) {
      it(what, () => {
        const guest = new FakeGuest(RING_MEMORY)
        const ring = new DriverRing(guest, 8)
        const make = (): SplitQueue => new SplitQueue(guest, 'test queue', 8, move(ring.rings), () => undefined)
        expect(make).toThrow(VirtioError)
        expect(make).toThrow(detail)
      })
    }

    it('a queue of size 0, 32769 (past the spec\'s 32768) or 1.5; 32768 itself is accepted', () => {
      // Memory for rings of 32769 entries, so that only the size can be wrong.
      const guest = new FakeGuest(2 * 1024 * 1024)
      const ring = new DriverRing(guest, 32769)
      for (const size of [0, 32769, 1.5]) {
        expect(() => new SplitQueue(guest, 'test queue', size, ring.rings, () => undefined), `size ${size}`).toThrow(VirtioError)
      }
      expect(new SplitQueue(guest, 'test queue', 32768, ring.rings, () => undefined).size).toBe(32768)
    })

    it('a queue size that is not a power of two (virtio 1.0 2.4: "Queue Size value is always a power of 2")', () => {
      // With 3 entries, available index 65535 and 0 both map to slot 0 under a modulo:
      // the device and a driver that masks with size - 1 would disagree after a wrap.
      const guest = new FakeGuest(RING_MEMORY)
      const ring = new DriverRing(guest, 3)
      expect(() => new SplitQueue(guest, 'test queue', 3, ring.rings, () => undefined)).toThrow(VirtioError)
    })
  })
})

describe('SplitQueue: the used ring', () => {
  it('publishes the element first, then the index', () => {
    const { guest, ring, queue } = freshRing()
    const head = ring.chain([{ address: guest.alloc(16), length: 16, write: true }])
    const chain = queue.pop()
    expect(chain?.head).toBe(head)
    const before = guest.writes.length
    queue.push(head, 12)
    const writes = guest.writes.slice(before)
    expect(writes, 'the used element must be written before the index that publishes it').toEqual([
      { address: ring.rings.used + 4, length: 8 },
      { address: ring.rings.used + 2, length: 2 },
    ])
    expect(ring.usedIdx).toBe(1)
    expect(ring.usedElem(0)).toEqual({ id: head, len: 12 })
  })

  it('16-bit indices wrap after 65536 chains, on both rings, and slots follow them', () => {
    const guest = new FakeGuest(RING_MEMORY)
    const ring = new DriverRing(guest, 4)
    const queue = walker(guest, ring)
    const buffer = guest.alloc(16)
    const rounds = 65536 + 6
    for (let i = 0; i < rounds; i++) {
      if (i === 65533) {
        // Just before the wrap, an index 5 ahead of 65533 reads 2: still more than the queue holds.
        ring.setAvailIdx(65533 + 5)
        expect(caught(() => queue.pop()), 'an index too far ahead across the wrap').toBeInstanceOf(VirtioError)
        ring.setAvailIdx(65533)
      }
      const head = ring.chain([{ address: buffer, length: 16, write: true }])
      const chain = queue.pop()
      if (chain?.head !== head) expect.fail(`round ${i}: popped ${chain?.head}, the driver offered ${head}`)
      queue.push(head, i & 0xffff)
      if (i === 65535) {
        expect(ring.usedIdx, 'after 65536 pushes the used index is 0 again').toBe(0)
        expect(ring.usedElem(65535)).toEqual({ id: head, len: 65535 })
      }
    }
    expect(ring.usedIdx).toBe(rounds & 0xffff)
    for (let i = rounds - 4; i < rounds; i++) expect(ring.usedElem(i).len).toBe(i & 0xffff)
    expect(queue.pop()).toBeNull()
  })

  it('asks for an interrupt unless the driver set NO_INTERRUPT', () => {
    const { ring, queue } = freshRing()
    expect(queue.wantsInterrupt()).toBe(true)
    ring.setAvailFlags(AVAIL_F_NO_INTERRUPT)
    expect(queue.wantsInterrupt()).toBe(false)
    ring.setAvailFlags(0)
    expect(queue.wantsInterrupt()).toBe(true)
  })

  it('a retired queue drops late completions: no used element, no signal', () => {
    const guest = new FakeGuest(RING_MEMORY)
    const ring = new DriverRing(guest, 8)
    let signals = 0
    const queue = walker(guest, ring, () => { signals++ })
    const head = ring.chain([{ address: guest.alloc(16), length: 16, write: true }])
    expect(queue.pop()?.head).toBe(head)
    queue.retire()
    const writes = guest.writes.length
    queue.push(head, 16)
    queue.signal()
    expect(ring.usedIdx).toBe(0)
    expect(guest.writes.length).toBe(writes)
    expect(signals).toBe(0)
    expect(queue.live).toBe(false)
  })
})

/** A device model that only takes chains; the test completes them. */
class TakingModel implements VirtioModel {
  readonly deviceId = 42
  readonly features = (1n << 0n) | (1n << 3n)
  readonly queueSizes = [8, 4]
  readonly taken: { index: number, queue: SplitQueue, chain: Chain }[] = []
  readonly configReads: [number, number][] = []
  resets = 0

  readConfig(offset: number, width: number): number {
    this.configReads.push([offset, width])
    return 0xc0 + offset
  }

  notify(index: number, queue: SplitQueue): void {
    for (let chain = queue.pop(); chain !== null; chain = queue.pop()) this.taken.push({ index, queue, chain })
  }

  reset(): void {
    this.resets++
  }

  /** Complete the oldest chain taken, as a device would when its work is done. */
  complete(written: number): void {
    const next = this.taken.shift() ?? expect.fail('no chain to complete')
    next.queue.push(next.chain.head, written)
    next.queue.signal()
  }
}

function mmioDevice(): { guest: FakeGuest, model: TakingModel, mmio: VirtioMmio, driver: MmioDriver } {
  const guest = new FakeGuest(RING_MEMORY)
  const model = new TakingModel()
  const mmio = new VirtioMmio(guest, 'test device', model)
  return { guest, model, mmio, driver: new MmioDriver(mmio, guest) }
}

/** Offer one chain of one writable buffer. */
function offerOne(ring: DriverRing): number {
  return ring.chain([{ address: ring.guest.alloc(16), length: 16, write: true }])
}

describe('VirtioMmio', () => {
  it('identifies itself: magic "virt", version 2, the model\'s device id, queue sizes per queue', () => {
    const { driver, model } = mmioDevice()
    expect(driver.read(REG.MagicValue)).toBe(0x74726976)
    expect(driver.read(REG.Version)).toBe(2)
    expect(driver.read(REG.DeviceID)).toBe(42)
    expect(driver.read(REG.ConfigGeneration)).toBe(0)
    const maxima = [0, 1, 2].map((q) => {
      driver.write(REG.QueueSel, q)
      return driver.read(REG.QueueNumMax)
    })
    expect(maxima, 'QueueNumMax of queues 0, 1 and the missing queue 2').toEqual([8, 4, 0])
    expect(driver.device.read(REG.Config + 5, 1)).toBe(0xc5)
    expect(model.configReads).toEqual([[5, 1]])
  })

  it('offers the model\'s features with VERSION_1 and INDIRECT_DESC', () => {
    const { driver } = mmioDevice()
    expect(driver.deviceFeatures()).toBe((1n << 0n) | (1n << 3n) | F_VERSION_1 | F_INDIRECT_DESC)
    expect(F_VERSION_1).toBe(VIRTIO_F_VERSION_1)
    expect(F_INDIRECT_DESC).toBe(VIRTIO_F_INDIRECT_DESC)
    driver.write(REG.DeviceFeaturesSel, 2)
    expect(driver.read(REG.DeviceFeatures), 'feature words past the second are 0').toBe(0)
  })

  it('keeps FEATURES_OK for a subset of its features with VERSION_1', () => {
    const { driver, mmio } = mmioDevice()
    expect(driver.negotiate(F_VERSION_1 | (1n << 3n))).toBe(true)
    expect(mmio.negotiated).toBe(F_VERSION_1 | (1n << 3n))
  })

  it('clears FEATURES_OK when the driver accepts a feature it did not offer', () => {
    const { driver } = mmioDevice()
    // EVENT_IDX (29) is not offered.
    expect(driver.negotiate(F_VERSION_1 | (1n << 29n))).toBe(false)
    expect(driver.status & (STATUS.ACKNOWLEDGE | STATUS.DRIVER)).toBe(STATUS.ACKNOWLEDGE | STATUS.DRIVER)
  })

  it('clears FEATURES_OK when the driver omits VERSION_1 (a legacy driver)', () => {
    const { driver } = mmioDevice()
    expect(driver.negotiate((1n << 0n) | F_INDIRECT_DESC)).toBe(false)
  })

  it('a queue made ready with a size above its maximum, or with none, is a VirtioError', () => {
    const { driver } = mmioDevice()
    driver.negotiate(F_VERSION_1)
    expect(() => driver.setupQueue(0, 16)).toThrow(VirtioError)
    expect(() => driver.setupQueue(1, 0)).toThrow(VirtioError)
    driver.write(REG.QueueSel, 1)
    expect(driver.read(REG.QueueReady)).toBe(0)
  })

  it('a ring address above 4 GiB is a VirtioError', () => {
    const { driver } = mmioDevice()
    driver.negotiate(F_VERSION_1)
    driver.write(REG.QueueSel, 0)
    expect(() => driver.write(REG.QueueDescHigh, 1)).toThrow(VirtioError)
  })

  it('notifying a queue that is not ready, or does not exist, is a VirtioError', () => {
    const { driver } = mmioDevice()
    driver.start(8)
    expect(() => driver.notify(1)).toThrow(VirtioError)
    expect(() => driver.notify(7)).toThrow(VirtioError)
  })

  it('raises one interrupt per batch, and another only after InterruptStatus was read', () => {
    const { driver, model, guest } = mmioDevice()
    const ring = driver.start(8)
    for (let i = 0; i < 3; i++) offerOne(ring)
    driver.notify()
    expect(model.taken.length).toBe(3)
    model.complete(1)
    model.complete(2)
    expect(guest.irqs, 'two completions before the handler ran').toBe(1)
    expect(driver.acknowledge()).toBe(1)
    expect(driver.read(REG.InterruptStatus), 'InterruptACK clears the bit').toBe(0)
    model.complete(3)
    expect(guest.irqs, 'a completion after the handler read InterruptStatus needs its own interrupt').toBe(2)
    expect(ring.takeUsed().map((u) => u.len)).toEqual([1, 2, 3])
  })

  it('respects NO_INTERRUPT: buffers are used without an interrupt until the driver asks again', () => {
    const { driver, model, guest } = mmioDevice()
    const ring = driver.start(8)
    ring.setAvailFlags(AVAIL_F_NO_INTERRUPT)
    offerOne(ring)
    offerOne(ring)
    driver.notify()
    model.complete(5)
    expect(ring.usedIdx).toBe(1)
    expect(guest.irqs).toBe(0)
    ring.setAvailFlags(0)
    model.complete(6)
    expect(guest.irqs).toBe(1)
  })

  it('a reset drops the queues: a completion after it writes no used ring and raises nothing', () => {
    const { driver, model, guest } = mmioDevice()
    const ring = driver.start(8)
    offerOne(ring)
    driver.notify()
    expect(model.taken.length).toBe(1)
    const resets = model.resets
    driver.write(REG.Status, 0)
    expect(model.resets).toBe(resets + 1)
    expect(driver.status).toBe(0)
    driver.write(REG.QueueSel, 0)
    expect(driver.read(REG.QueueReady)).toBe(0)
    const writes = guest.writes.length
    model.complete(16)
    expect(ring.usedIdx).toBe(0)
    expect(guest.writes.length).toBe(writes)
    expect(guest.irqs).toBe(0)
    expect(driver.read(REG.InterruptStatus)).toBe(0)
  })

  it('a queue keeps the ring addresses it was made ready with (the driver may not move a live ring)', () => {
    const { driver, model, guest } = mmioDevice()
    const ring = driver.start(8)
    const elsewhere = guest.alloc(6 + 8 * 8, 4)
    // Forbidden to a driver (4.2.2.2: ring registers only while QueueReady is 0); the device must not follow.
    driver.write(REG.QueueSel, 0)
    driver.write(REG.QueueDeviceLow, elsewhere)
    offerOne(ring)
    driver.notify()
    model.complete(7)
    expect(ring.usedIdx, 'the completion went to the moved address, not the ring the queue was made with').toBe(1)
    expect(guest.bytes.subarray(elsewhere, elsewhere + 6 + 64).every((b) => b === 0)).toBe(true)
  })
})

/** A backend over a memory disk whose operations a test can hold back or make fail. */
class SpyDisk implements BlockBackend {
  readonly description = 'spy'
  readonly serial: string
  readonly inner: BlockBackend
  readonly ops: string[] = []
  /** Writes wait for this while it is set. */
  writeGate: Promise<void> | null = null
  /** Reads wait for this while it is set. */
  readGate: Promise<void> | null = null
  failReads = false
  /** Writes throw before returning a promise (a non-async backend). */
  throwWrites = false
  failFlushes = false

  constructor(readonly bytes: Uint8Array, readonly readOnly = false, serial = 'spy-serial-0001') {
    this.inner = memoryDisk(bytes)
    this.serial = serial
  }

  get size(): number {
    return this.inner.size
  }

  async open(): Promise<void> {}

  async read(offset: number, into: Uint8Array): Promise<void> {
    this.ops.push(`read ${offset} ${into.length}`)
    if (this.readGate !== null) await this.readGate
    if (this.failReads) throw new Error(`injected read failure at ${offset}`)
    await this.inner.read(offset, into)
  }

  write(offset: number, bytes: Uint8Array): Promise<void> {
    this.ops.push(`write ${offset} ${bytes.length}`)
    if (this.throwWrites) throw new Error(`injected synchronous write failure at ${offset}`)
    const gate = this.writeGate
    const copy = bytes.slice()
    return (async () => {
      if (gate !== null) await gate
      await this.inner.write(offset, copy)
      this.ops.push(`wrote ${offset}`)
    })()
  }

  async flush(): Promise<void> {
    this.ops.push('flush')
    if (this.failFlushes) throw new Error('injected flush failure')
  }

  async close(): Promise<void> {}
}

/** A backend of any size that stores nothing: reads give zeroes, offsets are recorded. */
class SparseDisk implements BlockBackend {
  readonly description = 'sparse'
  readonly readOnly = false
  readonly serial = 'sparse'
  readonly offsets: number[] = []
  constructor(readonly size: number) {}
  async open(): Promise<void> {}
  async read(offset: number, into: Uint8Array): Promise<void> {
    this.offsets.push(offset)
    into.fill(0x5a)
  }
  async write(offset: number): Promise<void> {
    this.offsets.push(offset)
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

function blkDevice(
  backend: BlockBackend, queueSize = 64, timeoutMs?: number,
): { guest: FakeGuest, blk: VirtioBlk, driver: MmioDriver, ring: DriverRing } {
  const guest = new FakeGuest(BLK_MEMORY)
  const blk = new VirtioBlk(guest, 'vdt', backend, timeoutMs)
  const driver = new MmioDriver(new VirtioMmio(guest, 'vdt', blk), guest)
  const ring = driver.start(queueSize)
  return { guest, blk, driver, ring }
}

const F_SIZE_MAX = 1n << 1n
const F_SEG_MAX = 1n << 2n
const F_RO = 1n << 5n
const F_BLK_SIZE = 1n << 6n
const F_FLUSH = 1n << 9n

describe('VirtioBlk over a memory disk', () => {
  const DISK = 256 * 1024

  it('IN reads sectors into the driver\'s buffer: status OK, used length data + status', async () => {
    const bytes = pattern(DISK, 1)
    const { guest, blk, driver, ring } = blkDevice(memoryDisk(bytes))
    const req = blkRequest(ring, BLK.IN, 3n, { into: [1024] })
    driver.notify()
    await settle(guest)
    const data = req.data[0] ?? expect.fail('no data buffer')
    expect(guest.bytes.subarray(data, data + 1024)).toEqual(bytes.subarray(3 * SECTOR, 5 * SECTOR))
    expect(guest.bytes[req.status]).toBe(BLK_S.OK)
    expect(ring.takeUsed()).toEqual([{ id: req.head, len: 1025 }])
    expect(guest.irqs).toBe(1)
    expect(blk.stats).toMatchObject({ reads: 1, bytesRead: 1024, errors: 0 })
  })

  it('IN scatters into several buffers, with a split header, through an indirect table', async () => {
    const bytes = pattern(DISK, 2)
    const { guest, driver, ring } = blkDevice(memoryDisk(bytes))
    const req = blkRequest(ring, BLK.IN, 100n, { into: [512, 1536, 512], splitHeader: true, indirect: true })
    driver.notify()
    await settle(guest)
    const got = new Uint8Array(2560)
    let at = 0
    for (const [i, length] of [512, 1536, 512].entries()) {
      const address = req.data[i] ?? expect.fail('missing buffer')
      got.set(guest.bytes.subarray(address, address + length), at)
      at += length
    }
    expect(got).toEqual(bytes.subarray(100 * SECTOR, 105 * SECTOR))
    expect(ring.takeUsed()).toEqual([{ id: req.head, len: 2561 }])
  })

  it('a status byte at the end of the data buffer: the data is all but the last byte', async () => {
    const bytes = pattern(DISK, 3)
    const { guest, driver, ring } = blkDevice(memoryDisk(bytes))
    const header = new Uint8Array(16)
    new DataView(header.buffer).setBigUint64(8, 7n, true)
    const both = guest.alloc(513)
    guest.bytes[both + 512] = STATUS_UNWRITTEN
    const head = ring.chain([{ address: guest.place(header), length: 16 }, { address: both, length: 513, write: true }])
    driver.notify()
    await settle(guest)
    expect(guest.bytes.subarray(both, both + 512)).toEqual(bytes.subarray(7 * SECTOR, 8 * SECTOR))
    expect(guest.bytes[both + 512]).toBe(BLK_S.OK)
    expect(ring.takeUsed()).toEqual([{ id: head, len: 513 }])
  })

  it('OUT writes the driver\'s buffers to the disk: status OK, used length 1', async () => {
    const bytes = new Uint8Array(DISK)
    const { guest, blk, driver, ring } = blkDevice(memoryDisk(bytes))
    const first = pattern(512, 4)
    const second = pattern(1024, 5)
    const req = blkRequest(ring, BLK.OUT, 10n, { out: [first, second] })
    driver.notify()
    await settle(guest)
    expect(guest.bytes[req.status]).toBe(BLK_S.OK)
    expect(ring.takeUsed()).toEqual([{ id: req.head, len: 1 }])
    expect(bytes.subarray(10 * SECTOR, 11 * SECTOR)).toEqual(first)
    expect(bytes.subarray(11 * SECTOR, 13 * SECTOR)).toEqual(second)
    expect(bytes.subarray(0, 10 * SECTOR).every((b) => b === 0)).toBe(true)
    expect(bytes.subarray(13 * SECTOR).every((b) => b === 0)).toBe(true)
    expect(blk.stats).toMatchObject({ writes: 1, bytesWritten: 1536 })
  })

  it('a synchronous backend\'s requests are complete when the notification returns: status, used ring, interrupt, with no I/O left open', () => {
    const bytes = pattern(DISK, 14)
    const { guest, blk, driver, ring } = blkDevice(memoryDisk(bytes))
    const read = blkRequest(ring, BLK.IN, 5n, { into: [1024] })
    const written = pattern(512, 15)
    const write = blkRequest(ring, BLK.OUT, 20n, { out: [written] })
    driver.notify()
    // No await: nothing was left for a later turn.
    const data = read.data[0] ?? expect.fail('no data buffer')
    expect(guest.bytes.subarray(data, data + 1024)).toEqual(bytes.subarray(5 * SECTOR, 7 * SECTOR))
    expect(sameBytes(bytes.subarray(20 * SECTOR, 21 * SECTOR), written)).toBe(true)
    expect([guest.bytes[read.status], guest.bytes[write.status]]).toEqual([BLK_S.OK, BLK_S.OK])
    expect(ring.takeUsed()).toEqual([{ id: read.head, len: 1025 }, { id: write.head, len: 1 }])
    expect(guest.irqs).toBe(1)
    expect(guest.ioPending, 'no host I/O left open').toBe(0)
    expect(blk.stats).toMatchObject({ reads: 1, writes: 1, errors: 0 })
  })

  it('requests taken in one notification each get their own bytes (a synchronous backend shares one staging buffer)', async () => {
    const bytes = pattern(DISK, 8)
    const disk = memoryDisk(bytes)
    expect(disk.sync).toBeDefined()
    const { guest, blk, driver, ring } = blkDevice(disk)
    const expected = bytes.slice()
    const read = (sector: bigint, into: number[]) => ({ sector, into, req: blkRequest(ring, BLK.IN, sector, { into }) })
    const firstOut = pattern(1024, 9)
    const secondOut = pattern(512, 10)
    // Reads of different lengths among writes: a later request staged over an earlier one would show.
    const reads = [read(40n, [2048]), read(7n, [512, 512])]
    const outs = [blkRequest(ring, BLK.OUT, 200n, { out: [firstOut] })]
    reads.push(read(90n, [1536]))
    outs.push(blkRequest(ring, BLK.OUT, 300n, { out: [secondOut] }))
    driver.notify()
    await settle(guest)
    for (const { sector, into, req } of reads) {
      expect(guest.bytes[req.status]).toBe(BLK_S.OK)
      let at = Number(sector) * SECTOR
      for (const [i, length] of into.entries()) {
        const address = req.data[i] ?? expect.fail('no data buffer')
        expect(sameBytes(guest.bytes.subarray(address, address + length), expected.subarray(at, at + length)), `sector ${sector}, buffer ${i}`).toBe(true)
        at += length
      }
    }
    for (const req of outs) expect(guest.bytes[req.status]).toBe(BLK_S.OK)
    expect(sameBytes(bytes.subarray(200 * SECTOR, 202 * SECTOR), firstOut)).toBe(true)
    expect(sameBytes(bytes.subarray(300 * SECTOR, 301 * SECTOR), secondOut)).toBe(true)
    expect(blk.stats).toMatchObject({ reads: 3, writes: 2, bytesRead: 2048 + 1024 + 1536, bytesWritten: 1536 })
  })

  it('a backend that is not synchronous gets bytes of its own for each write (an overlay reads its base before it copies them)', async () => {
    const base = pattern(DISK, 11)
    const overlay = overlayDisk(memoryDisk(base, { readOnly: true }))
    expect(overlay.sync).toBeUndefined()
    await overlay.open()
    const { guest, driver, ring } = blkDevice(overlay)
    const first = pattern(512, 12)
    const second = pattern(512, 13)
    // Each is part of a 4 KiB chunk, so the overlay awaits the base's bytes before it takes the written ones.
    const outs = [blkRequest(ring, BLK.OUT, 1n, { out: [first] }), blkRequest(ring, BLK.OUT, 9n, { out: [second] })]
    driver.notify()
    await settle(guest)
    for (const req of outs) expect(guest.bytes[req.status]).toBe(BLK_S.OK)
    const back = new Uint8Array(16 * SECTOR)
    await overlay.read(0, back)
    expect(sameBytes(back.subarray(SECTOR, 2 * SECTOR), first)).toBe(true)
    expect(sameBytes(back.subarray(9 * SECTOR, 10 * SECTOR), second)).toBe(true)
    expect(sameBytes(back.subarray(0, SECTOR), base.subarray(0, SECTOR))).toBe(true)
  })

  it('FLUSH flushes the backend: status OK, used length 1', async () => {
    const disk = new SpyDisk(new Uint8Array(DISK))
    const { guest, blk, driver, ring } = blkDevice(disk)
    const req = blkRequest(ring, BLK.FLUSH, 0n)
    driver.notify()
    await settle(guest)
    expect(guest.bytes[req.status]).toBe(BLK_S.OK)
    expect(ring.takeUsed()).toEqual([{ id: req.head, len: 1 }])
    expect(disk.ops).toEqual(['flush'])
    expect(blk.stats.flushes).toBe(1)
  })

  it('GET_ID writes the serial padded to 20 bytes; a shorter buffer gets its first bytes, a longer one 20', async () => {
    const { guest, driver, ring } = blkDevice(memoryDisk(new Uint8Array(DISK), { serial: 'vdt-serial-1' }))
    const whole = blkRequest(ring, BLK.GET_ID, 0n, { into: [20] })
    const short = blkRequest(ring, BLK.GET_ID, 0n, { into: [5] })
    const long = blkRequest(ring, BLK.GET_ID, 0n, { into: [32] })
    const longAt = long.data[0] ?? expect.fail('no buffer')
    guest.bytes.fill(0xaa, longAt, longAt + 32)
    driver.notify()
    await settle(guest)
    const id = whole.data[0] ?? expect.fail('no buffer')
    const expected = new Uint8Array(20)
    expected.set(new TextEncoder().encode('vdt-serial-1'))
    expect(guest.bytes.subarray(id, id + 20)).toEqual(expected)
    const part = short.data[0] ?? expect.fail('no buffer')
    expect(new TextDecoder().decode(guest.bytes.subarray(part, part + 5))).toBe('vdt-s')
    expect(guest.bytes.subarray(longAt, longAt + 20)).toEqual(expected)
    expect(guest.bytes.subarray(longAt + 20, longAt + 32).every((b) => b === 0xaa), 'GET_ID wrote past 20 bytes').toBe(true)
    expect([whole, short, long].map((r) => guest.bytes[r.status])).toEqual([BLK_S.OK, BLK_S.OK, BLK_S.OK])
    expect(ring.takeUsed()).toEqual([{ id: whole.head, len: 21 }, { id: short.head, len: 6 }, { id: long.head, len: 21 }])
  })

  it('requests outside the disk or not in whole sectors are IOERR, and the backend is not asked', async () => {
    const disk = new SpyDisk(new Uint8Array(DISK))
    const { guest, blk, driver, ring } = blkDevice(disk)
    const sectors = BigInt(DISK / SECTOR)
    const requests = [
      blkRequest(ring, BLK.IN, sectors, { into: [512] }), // one past the end
      blkRequest(ring, BLK.IN, sectors - 1n, { into: [1024] }), // straddles the end
      blkRequest(ring, BLK.OUT, sectors, { out: [new Uint8Array(512)] }),
      blkRequest(ring, BLK.IN, 0xffff_ffff_ffff_ffffn, { into: [512] }), // sector * 512 overflows 64 bits
      blkRequest(ring, BLK.IN, 2n, { into: [100] }), // not whole sectors
      blkRequest(ring, BLK.OUT, 2n, { out: [new Uint8Array(700)] }),
    ]
    driver.notify()
    await settle(guest)
    expect(requests.map((r) => guest.bytes[r.status])).toEqual(requests.map(() => BLK_S.IOERR))
    expect(ring.takeUsed()).toEqual(requests.map((r) => ({ id: r.head, len: 1 })))
    expect(disk.ops).toEqual([])
    const first = requests[0]?.data[0] ?? expect.fail('no buffer')
    expect(guest.bytes.subarray(first, first + 512).every((b) => b === 0), 'a refused IN wrote into its buffer').toBe(true)
    expect(blk.stats.errors, 'refused requests are not backend failures').toBe(0)
  })

  it('an unknown request type is UNSUPP (DISCARD and WRITE_ZEROES are not offered either)', async () => {
    const disk = new SpyDisk(new Uint8Array(DISK))
    const { guest, driver, ring } = blkDevice(disk)
    const requests = [11, 13, 2, 0x7fff_ffff].map((type) => blkRequest(ring, type, 0n, { into: [512] }))
    driver.notify()
    await settle(guest)
    expect(requests.map((r) => guest.bytes[r.status])).toEqual(requests.map(() => BLK_S.UNSUPP))
    expect(ring.takeUsed().map((u) => u.len)).toEqual([1, 1, 1, 1])
    expect(disk.ops).toEqual([])
  })

  it('a backend read that fails is IOERR, counted in stats, and the device goes on', async () => {
    const disk = new SpyDisk(pattern(DISK, 6))
    const { guest, blk, driver, ring } = blkDevice(disk)
    disk.failReads = true
    const bad = blkRequest(ring, BLK.IN, 8n, { into: [512] })
    driver.notify()
    await settle(guest)
    expect(guest.bytes[bad.status]).toBe(BLK_S.IOERR)
    expect(ring.takeUsed()).toEqual([{ id: bad.head, len: 1 }])
    expect(blk.stats.errors).toBe(1)
    expect(blk.stats.lastError?.message).toMatch(/injected read failure at 4096/)
    disk.failReads = false
    const good = blkRequest(ring, BLK.IN, 8n, { into: [512] })
    driver.notify()
    await settle(guest)
    expect(guest.bytes[good.status]).toBe(BLK_S.OK)
  })

  it('a backend write that throws before returning a promise is IOERR too, and its I/O is not left pending', async () => {
    const disk = new SpyDisk(new Uint8Array(DISK))
    const { guest, blk, driver, ring } = blkDevice(disk)
    disk.throwWrites = true
    const req = blkRequest(ring, BLK.OUT, 1n, { out: [pattern(512, 7)] })
    // A throw here would reach the kernel's MMIO write (a host op), and the begun I/O would never end.
    expect(() => driver.notify()).not.toThrow()
    await settle(guest)
    expect(guest.bytes[req.status]).toBe(BLK_S.IOERR)
    expect(ring.takeUsed()).toEqual([{ id: req.head, len: 1 }])
    expect(blk.stats.errors).toBe(1)
  })

  it('a backend flush that fails is IOERR', async () => {
    const disk = new SpyDisk(new Uint8Array(DISK))
    const { guest, blk, driver, ring } = blkDevice(disk)
    disk.failFlushes = true
    const req = blkRequest(ring, BLK.FLUSH, 0n)
    driver.notify()
    await settle(guest)
    expect(guest.bytes[req.status]).toBe(BLK_S.IOERR)
    expect(blk.stats).toMatchObject({ errors: 1, flushes: 0 })
  })

  it('a request without a status byte, with an empty last buffer, or with a short header is a VirtioError', () => {
    for (const build of [
      (ring: DriverRing) => blkRequest(ring, BLK.FLUSH, 0n, { noStatus: true }),
      (ring: DriverRing) => blkRequest(ring, BLK.OUT, 0n, { out: [new Uint8Array(512)], noStatus: true }),
      (ring: DriverRing) => ring.chain([{ address: ring.guest.place(new Uint8Array(16)), length: 16 }, { address: ring.guest.alloc(1), length: 0, write: true }]),
      (ring: DriverRing) => ring.chain([{ address: ring.guest.place(new Uint8Array(8)), length: 8 }, { address: ring.guest.alloc(1), length: 1, write: true }]),
    ]) {
      const disk = new SpyDisk(new Uint8Array(DISK))
      const { guest, driver, ring } = blkDevice(disk)
      build(ring)
      expect(() => driver.notify()).toThrow(VirtioError)
      expect(guest.ioPending, 'a refused request began host I/O').toBe(0)
      expect(disk.ops).toEqual([])
    }
  })

  it('FLUSH completes only after the writes taken before it, not those taken after', async () => {
    const disk = new SpyDisk(new Uint8Array(DISK))
    const { guest, driver, ring } = blkDevice(disk)
    let open: () => void = () => undefined
    disk.writeGate = new Promise((resolve) => { open = resolve })
    const write = blkRequest(ring, BLK.OUT, 4n, { out: [pattern(512, 8)] })
    const flush = blkRequest(ring, BLK.FLUSH, 0n)
    driver.notify()
    await turns(20)
    expect(ring.usedIdx, 'the flush completed while the write before it was pending').toBe(0)
    expect(disk.ops).toEqual(['write 2048 512'])
    open()
    disk.writeGate = null
    await settle(guest)
    expect(disk.ops).toEqual(['write 2048 512', 'wrote 2048', 'flush'])
    expect(ring.takeUsed().map((u) => u.id)).toEqual([write.head, flush.head])
    expect([guest.bytes[write.status], guest.bytes[flush.status]]).toEqual([BLK_S.OK, BLK_S.OK])

    // A write taken after the flush does not hold it back.
    let openLate: () => void = () => undefined
    disk.writeGate = new Promise((resolve) => { openLate = resolve })
    const flushFirst = blkRequest(ring, BLK.FLUSH, 0n)
    const late = blkRequest(ring, BLK.OUT, 5n, { out: [pattern(512, 9)] })
    driver.notify()
    await turns(20)
    expect(ring.takeUsed().map((u) => u.id)).toEqual([flushFirst.head])
    openLate()
    await settle(guest)
    expect(ring.takeUsed().map((u) => u.id)).toEqual([late.head])
  })

  it('many requests in one notification complete with one interrupt until the driver reads InterruptStatus', async () => {
    const bytes = pattern(DISK, 10)
    const { guest, driver, ring } = blkDevice(memoryDisk(bytes))
    const requests = Array.from({ length: 10 }, (_, i) => blkRequest(ring, BLK.IN, BigInt(i * 3), { into: [512] }))
    driver.notify()
    await settle(guest)
    expect(ring.takeUsed().length).toBe(10)
    expect(requests.every((r) => guest.bytes[r.status] === BLK_S.OK)).toBe(true)
    expect(guest.irqs).toBe(1)
    expect(driver.acknowledge()).toBe(1)
    blkRequest(ring, BLK.FLUSH, 0n)
    driver.notify()
    await settle(guest)
    expect(guest.irqs).toBe(2)
  })

  it('a reset while a read is pending: the late data, status and used element are dropped', async () => {
    const disk = new SpyDisk(pattern(DISK, 11))
    const { guest, driver, ring } = blkDevice(disk)
    let open: () => void = () => undefined
    disk.readGate = new Promise((resolve) => { open = resolve })
    const req = blkRequest(ring, BLK.IN, 1n, { into: [512] })
    driver.notify()
    await turns(5)
    driver.write(REG.Status, 0)
    const writes = guest.writes.length
    open()
    await settle(guest)
    expect(guest.writes.length, 'the device wrote into guest memory after the reset').toBe(writes)
    expect(ring.usedIdx).toBe(0)
    expect(guest.bytes[req.status]).toBe(STATUS_UNWRITTEN)
    expect(guest.irqs).toBe(0)
  })

  it('a read the backend does not answer within the timeout is IOERR; its I/O ends, and the late data is dropped', async () => {
    const disk = new SpyDisk(pattern(DISK, 12))
    const { guest, blk, driver, ring } = blkDevice(disk, 64, 50)
    let open: () => void = () => undefined
    disk.readGate = new Promise((resolve) => { open = resolve })
    const req = blkRequest(ring, BLK.IN, 2n, { into: [512] })
    driver.notify()
    await new Promise((resolve) => setTimeout(resolve, 120))
    await settle(guest)
    expect(guest.bytes[req.status]).toBe(BLK_S.IOERR)
    expect(ring.takeUsed()).toEqual([{ id: req.head, len: 1 }])
    expect(blk.stats).toMatchObject({ timeouts: 1, errors: 1, reads: 0 })
    expect(blk.stats.lastError?.message).toMatch(/vdt: the backend \(.*\) did not answer a read request at sector 2 within 50 ms/)
    const writes = guest.writes.length
    open()
    await turns(5)
    expect(guest.writes.length, 'the device wrote into guest memory after the request had failed').toBe(writes)
  })

  it('the config space: capacity as a u64 in sectors, size_max, seg_max, blk_size; features to match', () => {
    // 4 TiB and 3 sectors: 2^33 + 3 sectors, so the capacity's high word is 2 - no 32-bit field holds it.
    const size = 4 * 1024 ** 4 + 3 * SECTOR
    const { driver } = blkDevice(new SparseDisk(size))
    const capacity = BigInt(driver.read(REG.Config)) | (BigInt(driver.read(REG.Config + 4)) << 32n)
    expect(capacity).toBe(BigInt(size / SECTOR))
    expect(driver.device.read(REG.Config, 1), 'the capacity\'s low byte, read alone').toBe((size / SECTOR) & 0xff)
    const sizeMax = driver.read(REG.Config + 8)
    const segMax = driver.read(REG.Config + 12)
    expect(driver.read(REG.Config + 20), 'blk_size').toBe(512)
    driver.write(REG.QueueSel, 0)
    const queueMax = driver.read(REG.QueueNumMax)
    expect(sizeMax > 0 && sizeMax % SECTOR === 0, `size_max ${sizeMax}`).toBe(true)
    // Without indirect descriptors a request of seg_max segments, its header and its status must fit the queue.
    expect(segMax >= 1 && segMax <= queueMax - 2, `seg_max ${segMax} with a queue of ${queueMax}`).toBe(true)
    const features = driver.deviceFeatures()
    for (const [name, bit] of [['SIZE_MAX', F_SIZE_MAX], ['SEG_MAX', F_SEG_MAX], ['BLK_SIZE', F_BLK_SIZE], ['FLUSH', F_FLUSH]] as const) {
      expect(features & bit, `${name} offered`).toBe(bit)
    }
    expect(features & F_RO, 'RO offered for a writable disk').toBe(0n)
    expect(driver.device.read(REG.Config + 64, 4), 'past the config space').toBe(0)
  })

  it('sector numbers are 64-bit: a request past 2^32 sectors reaches the backend at its byte offset', async () => {
    const size = 4 * 1024 ** 4 // 4 TiB: 2^33 sectors
    const disk = new SparseDisk(size)
    const { guest, driver, ring } = blkDevice(disk)
    const far = 2n ** 32n + 3n
    const req = blkRequest(ring, BLK.IN, far, { into: [512] })
    const last = blkRequest(ring, BLK.IN, BigInt(size / SECTOR) - 1n, { into: [512] })
    driver.notify()
    await settle(guest)
    expect([guest.bytes[req.status], guest.bytes[last.status]]).toEqual([BLK_S.OK, BLK_S.OK])
    expect(disk.offsets).toEqual([Number(far) * SECTOR, size - SECTOR])
  })

  it('a read-only backend: RO offered, OUT refused with IOERR and nothing written, IN served', async () => {
    const bytes = pattern(DISK, 12)
    const before = bytes.slice()
    const { guest, driver, ring } = blkDevice(memoryDisk(bytes, { readOnly: true }))
    expect(driver.deviceFeatures() & F_RO).toBe(F_RO)
    const write = blkRequest(ring, BLK.OUT, 0n, { out: [new Uint8Array(512)] })
    const read = blkRequest(ring, BLK.IN, 0n, { into: [512] })
    driver.notify()
    await settle(guest)
    expect([guest.bytes[write.status], guest.bytes[read.status]]).toEqual([BLK_S.IOERR, BLK_S.OK])
    expect(sameBytes(bytes, before), 'a read-only disk was written').toBe(true)
  })
})

describe('backends', () => {
  let work: string
  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'uklkl-virtio-test-'))
  })
  afterAll(async () => {
    await rm(work, { recursive: true, force: true })
  })

  it('memoryDisk writes in place into the bytes it was given; memoryDisk(size) starts zeroed', async () => {
    const bytes = new Uint8Array(8192)
    const disk = memoryDisk(bytes)
    await disk.write(1024, pattern(512, 13))
    expect(bytes.subarray(1024, 1536)).toEqual(pattern(512, 13))
    const back = new Uint8Array(512)
    await disk.read(1024, back)
    expect(back).toEqual(pattern(512, 13))
    const zeroed = memoryDisk(4096)
    expect(zeroed.size).toBe(4096)
    const z = new Uint8Array(4096).fill(1)
    await zeroed.read(0, z)
    expect(z.every((b) => b === 0)).toBe(true)
    expect(memoryDisk(512).serial, 'two memory disks share a serial').not.toBe(memoryDisk(512).serial)
  })

  it('memoryDisk refuses a size that is not whole sectors, and a serial GET_ID cannot carry', () => {
    expect(() => memoryDisk(1000)).toThrow(RangeError)
    expect(() => memoryDisk(512, { serial: 'x'.repeat(21) })).toThrow(RangeError)
    expect(() => memoryDisk(512, { serial: '' })).toThrow(RangeError)
    expect(() => memoryDisk(512, { serial: 'tab\there' })).toThrow(RangeError)
  })

  it('overlayDisk never writes its base; partial writes keep the base\'s neighbouring bytes; reads straddle', async () => {
    const CHUNK = 4096
    const base = pattern(16 * CHUNK, 14)
    const baseCopy = base.slice()
    const overlay = overlayDisk(memoryDisk(base, { readOnly: true }))
    expect(overlay.readOnly).toBe(false)
    expect(overlay.size).toBe(base.length)
    const model = base.slice()
    const write = async (offset: number, bytes: Uint8Array): Promise<void> => {
      await overlay.write(offset, bytes)
      model.set(bytes, offset)
    }
    await write(2 * CHUNK + 1000, pattern(100, 15)) // inside one chunk, unaligned
    await write(4 * CHUNK - 512, pattern(1024, 16)) // straddles chunks 3 and 4
    await write(7 * CHUNK, pattern(CHUNK, 17)) // one whole chunk
    const all = new Uint8Array(base.length)
    await overlay.read(0, all)
    expect(sameBytes(all, model), 'the overlay reads differ from the model').toBe(true)
    // Reads that start and end in unwritten, partly written and whole written chunks.
    for (const [from, to] of [[CHUNK + 100, 3 * CHUNK + 7], [2 * CHUNK + 1050, 2 * CHUNK + 1200], [6 * CHUNK - 1, 8 * CHUNK + 1], [4 * CHUNK - 600, 4 * CHUNK + 600]] as const) {
      const part = new Uint8Array(to - from)
      await overlay.read(from, part)
      expect(sameBytes(part, model.subarray(from, to)), `read ${from}..${to}`).toBe(true)
    }
    expect(overlay.overlayBytes).toBe(4 * CHUNK)
    expect(sameBytes(base, baseCopy), 'the overlay wrote its base').toBe(true)
  })

  it('overlayDisk against a model: seeded writes and reads of any size, a disk that ends mid-chunk', async () => {
    // 10 sectors past 5 chunks: the last chunk is partial.
    const size = 5 * 4096 + 10 * SECTOR
    const base = pattern(size, 18)
    const baseCopy = base.slice()
    const overlay = overlayDisk(memoryDisk(base, { readOnly: true }))
    const model = base.slice()
    const prng = new Prng(0x0b5e_55ed, 0)
    for (let i = 0; i < 300; i++) {
      const offset = prng.below(size)
      const length = 1 + prng.below(Math.min(9000, size - offset))
      if (prng.below(2) === 0) {
        const bytes = pattern(length, i)
        await overlay.write(offset, bytes)
        model.set(bytes, offset)
      } else {
        const got = new Uint8Array(length)
        await overlay.read(offset, got)
        if (!sameBytes(got, model.subarray(offset, offset + length))) expect.fail(`step ${i}: read ${offset}+${length} differs from the model`)
      }
    }
    const all = new Uint8Array(size)
    await overlay.read(0, all)
    expect(sameBytes(all, model), 'the overlay reads differ from the model').toBe(true)
    expect(sameBytes(base, baseCopy), 'the overlay wrote its base').toBe(true)
  })

  it('overlayDisk refuses a writable base', () => {
    expect(() => overlayDisk(memoryDisk(512))).toThrow(TypeError)
  })

  /** A temporary image of size bytes holding pattern(seed). */
  async function image(name: string, size: number, seed: number): Promise<string> {
    const file = path.join(work, name)
    await writeFile(file, pattern(size, seed))
    return file
  }

  it('fileDisk: positional reads and writes, many at once, land where node:fs finds them', async () => {
    const file = await image('positional.img', 64 * 1024, 19)
    const disk = fileDisk(file)
    await disk.open()
    try {
      expect(disk.size).toBe(64 * 1024)
      expect(disk.serial).toMatch(/^[0-9a-f]{20}$/)
      const reads = [0, 40960, 512, 65024].map(async (offset) => {
        const into = new Uint8Array(512)
        await disk.read(offset, into)
        return into
      })
      await Promise.all([disk.write(8192, pattern(4096, 20)), disk.write(1024, pattern(512, 21))])
      const expected = pattern(64 * 1024, 19)
      for (const [i, offset] of [0, 40960, 512, 65024].entries()) expect(await reads[i]).toEqual(expected.subarray(offset, offset + 512))
      await disk.flush()
    } finally {
      await disk.close()
    }
    const host = new Uint8Array(await readFile(file))
    expect(host.subarray(8192, 12288)).toEqual(pattern(4096, 20))
    expect(host.subarray(1024, 1536)).toEqual(pattern(512, 21))
    expect(sameBytes(host.subarray(1536, 8192), pattern(64 * 1024, 19).subarray(1536, 8192)), "bytes between the writes changed").toBe(true)
  })

  it('overlayDisk over a read-only file that ends mid-chunk: a partial write to the last chunk reads back, the file is untouched', async () => {
    const size = 3 * 4096 + 2 * SECTOR
    const file = await image('overlay-base.img', size, 25)
    const overlay = overlayDisk(fileDisk(file, { readOnly: true }))
    await overlay.open()
    try {
      // The last chunk holds only 1024 bytes of the file: its copy must not read past the end.
      await overlay.write(size - SECTOR, pattern(SECTOR, 26))
      const tail = new Uint8Array(2 * SECTOR)
      await overlay.read(size - 2 * SECTOR, tail)
      expect(tail.subarray(0, SECTOR)).toEqual(pattern(size, 25).subarray(size - 2 * SECTOR, size - SECTOR))
      expect(tail.subarray(SECTOR)).toEqual(pattern(SECTOR, 26))
    } finally {
      await overlay.close()
    }
    expect(sameBytes(new Uint8Array(await readFile(file)), pattern(size, 25)), 'the overlay wrote its base file').toBe(true)
  })

  it('fileDisk: a read past the end of a file that shrank under it fails instead of giving zeroes', async () => {
    const file = await image('shrinking.img', 8192, 27)
    const disk = fileDisk(file)
    await disk.open()
    try {
      await truncate(file, 4096)
      await expect(disk.read(4096, new Uint8Array(SECTOR))).rejects.toThrow(/beyond the end/)
    } finally {
      await disk.close()
    }
  })

  it('fileDisk refuses a file that is not whole sectors (RangeError), and lets go of its lock', async () => {
    const file = await image('odd.img', 1000, 22)
    await expect(fileDisk(file).open()).rejects.toThrow(RangeError)
    // The lock was released: the second attempt fails on the size again, not on the lock.
    await expect(fileDisk(file).open()).rejects.toThrow(RangeError)
  })

  it('fileDisk\'s lock: a second writer (by any path) is EBUSY, a reader is refused, both succeed after close', async () => {
    const file = await image('locked.img', 8192, 23)
    const alias = path.join(work, 'alias.img')
    await symlink(file, alias)
    const writer = fileDisk(file)
    await writer.open()
    try {
      const second = await fileDisk(file).open().catch((error: unknown) => error)
      expect(second).toBeInstanceOf(ImageLockedError)
      expect(second).toMatchObject({ code: 'EBUSY', pid: process.pid })
      expect(await fileDisk(alias).open().catch((error: unknown) => error), 'a symlink to the image dodged the lock').toBeInstanceOf(ImageLockedError)
      expect(await fileDisk(file, { readOnly: true }).open().catch((error: unknown) => error)).toBeInstanceOf(ImageLockedError)
    } finally {
      await writer.close()
    }
    const reader = fileDisk(alias, { readOnly: true })
    await reader.open()
    const again = fileDisk(file)
    await again.open()
    expect(reader.serial, 'the serial comes from the real path').toBe(again.serial)
    await again.close()
    await reader.close()
  })

  it('fileDisk takes over a stale lock whose process is gone', async () => {
    const file = await image('stale.img', 8192, 24)
    const { dev, ino } = await stat(file)
    const lockFile = path.join(os.tmpdir(), 'uklkl-locks', `${dev}-${ino}.lock`)
    // A process that has exited: its pid is dead (unless reused at once, which the check below rules out).
    const { pid } = spawnSync(process.execPath, ['-e', ''])
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/)
    // The first writer creates the lock directory; its lock file is replaced by the stale one.
    const first = fileDisk(file)
    await first.open()
    await first.close()
    await writeFile(lockFile, `${pid}\n`)
    const disk = fileDisk(file)
    await disk.open()
    try {
      expect(await readFile(lockFile, 'utf8')).toBe(`${process.pid}\n`)
      await expect(fileDisk(file).open()).rejects.toBeInstanceOf(ImageLockedError)
    } finally {
      await disk.close()
    }
    await expect(stat(lockFile), 'close left the lock file behind').rejects.toMatchObject({ code: 'ENOENT' })
  })
})
