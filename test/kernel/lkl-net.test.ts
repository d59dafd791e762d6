// SPDX-License-Identifier: MIT
// LKL's net names, the LKL way (tools/lkl/tests/net-test.c's setup): netdev_add of
// NICs on an in-process switch before start_kernel, netdev_remove of one of them
// (the other keeps its id, and the kernel never sees the removed one),
// netdev_get_ifindex, if_up, if_set_ipv4, set_ipv4_gateway; then the kernel's own
// view (k.net.interfaces(), /proc/net/route) and a TCP exchange with a second
// kernel on the switch prove the configuration took. Errors come back as -errno:
// an unknown or removed netdev id (-ENODEV), an address given twice (-EEXIST), a
// netdev added or removed while running (-EBUSY), removing one twice (-EINVAL).
import { createHash } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { netSwitch, nic } from '../../src/devices/net/backends.js'
import { type Kernel, startKernel } from '../../src/index.js'
import lkl, { lkl_host_ops } from '../../src/lkl.js'

const sw = netSwitch()
let peer: Kernel | null = null
afterAll(async () => {
  await peer?.halt().catch(() => undefined)
  if (lkl.kernel !== null) await lkl.lkl_sys_halt().catch(() => undefined)
})

async function procRoute(k: Kernel): Promise<string> {
  await k.sys.mkdirat(k.constants.AT_FDCWD, '/proc', 0o755).catch(() => undefined)
  await k.sys.mount('proc', '/proc', 'proc', 0, null).catch(() => undefined)
  return k.fs.readFile('/proc/net/route', 'utf8')
}

describe.sequential("LKL's net names", () => {
  let ifindex = -1

  it('netdev_add before start_kernel gives ids 0, 1; netdev_remove(0) forgets the first; start_kernel', async () => {
    peer = await startKernel({ nics: [nic(sw, { mac: '02:00:00:00:99:01' })] })
    const [eth] = peer.net.nics
    if (eth === undefined) throw new Error('no NIC')
    await peer.net.up(eth)
    await peer.net.addAddress(eth, '10.0.9.1/24')
    expect(lkl.lkl_netdev_add(nic(sw, { mac: '02:00:00:00:99:0a' }))).toBe(0)
    expect(lkl.lkl_netdev_add(nic(sw, { mac: '02:00:00:00:99:02' }))).toBe(1)
    expect(lkl.lkl_netdev_remove(0)).toBe(0)
    expect(lkl.lkl_netdev_remove(0), 'removed twice').toBe(-22)
    expect(lkl.lkl_netdev_remove(7), 'never added').toBe(-22)
    expect(await lkl.lkl_start_kernel(lkl_host_ops, 'mem=32M')).toBe(0)
    expect(lkl.lkl_netdev_add(nic(sw))).toBe(-16)
    expect(lkl.lkl_netdev_remove(1), 'removed while the kernel runs').toBe(-16)
  })

  it('the removed NIC was never plugged in; the other keeps its id', async () => {
    const k = lkl.kernel
    if (k === null) throw new Error('no kernel')
    const macs = (await k.net.interfaces()).filter((i) => i.name.startsWith('eth')).map((i) => i.mac)
    expect(macs).toEqual(['02:00:00:00:99:02'])
    expect(await lkl.lkl_netdev_get_ifindex(0), 'the removed id').toBe(-lkl.LKL_ENODEV)
  })

  it('netdev_get_ifindex, if_up, if_set_ipv4, set_ipv4_gateway: 0 each, as the kernel sees it', async () => {
    ifindex = await lkl.lkl_netdev_get_ifindex(1)
    expect(ifindex).toBeGreaterThan(1)
    expect(await lkl.lkl_netdev_get_ifindex(2)).toBe(-lkl.LKL_ENODEV)
    expect(await lkl.lkl_if_up(ifindex)).toBe(0)
    expect(await lkl.lkl_if_set_ipv4(ifindex, '10.0.9.2', 24)).toBe(0)
    expect(await lkl.lkl_if_set_ipv4(ifindex, '10.0.9.2', 24)).toBe(-lkl.LKL_EEXIST)
    expect(await lkl.lkl_set_ipv4_gateway('10.0.9.1')).toBe(0)
    const k = lkl.kernel
    if (k === null) throw new Error('no kernel')
    const eth = (await k.net.interfaces()).find((i) => i.index === ifindex)
    expect(eth).toMatchObject({ mac: '02:00:00:00:99:02', up: true })
    expect(eth?.addresses).toContainEqual({ family: 'IPv4', address: '10.0.9.2', prefixLength: 24 })
    // The default route: destination 0, the gateway 10.0.9.1 in the kernel's (little-endian) hex.
    expect(await procRoute(k)).toMatch(/\n\S+\t00000000\t0109000A\t0003\t/)
  })

  it('TCP to the peer kernel over the configured link: what arrived hashes the same', async () => {
    const k = lkl.kernel
    if (k === null || peer === null) throw new Error('no kernel')
    const server = peer.net.createServer((socket) => {
      const hash = createHash('sha256')
      socket.on('data', (chunk: Buffer) => hash.update(chunk))
      socket.on('end', () => socket.end(hash.digest('hex')))
    })
    const { port } = await server.listen({ port: 7000 })
    const payload = Buffer.alloc(256 * 1024, 0x5a)
    const client = k.net.connect({ host: '10.0.9.1', port })
    const chunks: Buffer[] = []
    client.on('data', (chunk: Buffer) => chunks.push(chunk))
    const ended = new Promise((resolve) => client.on('end', resolve))
    client.end(payload)
    await ended
    expect(Buffer.concat(chunks).toString()).toBe(createHash('sha256').update(payload).digest('hex'))
    await server.close()
  })

  it('sys_halt forgets the netdevs: the next kernel starts without one', async () => {
    expect(await lkl.lkl_sys_halt()).toBe(0)
    expect(lkl.lkl_netdev_remove(1), 'forgotten at halt').toBe(-22)
    expect(lkl.lkl_netdev_add(nic(sw))).toBe(0)
    // Removing the last id gives it back.
    expect(lkl.lkl_netdev_remove(0)).toBe(0)
    expect(lkl.lkl_netdev_add(nic(sw))).toBe(0)
    expect(lkl.lkl_netdev_remove(0)).toBe(0)
  })
})
