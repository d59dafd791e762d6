// SPDX-License-Identifier: MIT
/**
 * The WASI channel (src/wasi/channel.ts) on its own, no kernel behind it: a
 * worker makes calls with seeded pauses between them, so that requests arrive
 * while the kernel's thread polls, after it has gone back to waitAsync, and
 * answers arrive while the worker polls and after it has gone to sleep. Every
 * call must get its own answer; a lost wake-up would leave one unanswered and
 * time the test out. Serving calls back to back must not starve the event loop.
 */
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { CHANNEL_BYTES, type Call, ChannelServer } from '../../src/wasi/channel.js'
import { Prng } from '../fuzz/prng.js'

const BUDGET_MS = 60_000

/**
 * A worker that makes calls.length calls: call i sends op 31 with args[0] = i
 * after pausing pauses[i] ms (busy, so the kernel's thread sees no request
 * meanwhile); it posts the answers' args[0] and errnos.
 */
function caller(channel: SharedArrayBuffer, pauses: readonly number[]): Promise<{ answers: number[], errnos: number[] }> {
  const source = `
    const { workerData, parentPort } = require('node:worker_threads')
    import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((api) => {
      api.register()
      return import(${JSON.stringify(new URL('../../src/wasi/channel.ts', import.meta.url).href)})
    }).then(({ ChannelClient }) => {
      const c = new ChannelClient(workerData.channel)
      const answers = [], errnos = []
      workerData.pauses.forEach((pause, i) => {
        const until = performance.now() + pause
        while (performance.now() < until);
        c.args[0] = BigInt(i)
        errnos.push(c.call(31))
        answers.push(Number(c.args[0]))
      })
      parentPort.postMessage({ answers, errnos })
    })`
  const worker = new Worker(source, { eval: true, workerData: { channel, pauses } })
  return new Promise((resolve, reject) => {
    worker.once('message', (result: { answers: number[], errnos: number[] }) => {
      void worker.terminate()
      resolve(result)
    })
    worker.once('error', reject)
  })
}

describe('WASI channel', () => {
  it('every call gets its own answer, whether either end was polling or asleep when the other came', async () => {
    const prng = new Prng(7, 0)
    // Pauses around both poll windows (the kernel's 0.05 ms, the worker's 0.2 ms) and well past them.
    const choices = [0, 0, 0.02, 0.1, 0.5, 2]
    const pauses = Array.from({ length: 1500 }, () => choices[prng.below(choices.length)] ?? 0)
    const channel = new SharedArrayBuffer(CHANNEL_BYTES)
    let served = 0
    const server = new ChannelServer(channel, async (call: Call) => {
      served++
      const i = call.args[0] ?? 0n
      // Some answers come late: the worker has gone to sleep by then.
      if (i % 7n === 3n) await new Promise((resolve) => setTimeout(resolve, 1))
      call.args[0] = 2n * i + 1n
      return { errno: Number(i % 5n), length: 0 }
    })
    try {
      const { answers, errnos } = await caller(channel, pauses)
      expect(served).toBe(pauses.length)
      expect(answers).toEqual(pauses.map((_, i) => 2 * i + 1))
      expect(errnos).toEqual(pauses.map((_, i) => i % 5))
    } finally {
      server.stop()
    }
  }, BUDGET_MS)

  it('serving calls back to back still lets the event loop run, even with a kernel thread that would poll for ever', async () => {
    const channel = new SharedArrayBuffer(CHANNEL_BYTES)
    let ticks = 0
    let last = performance.now()
    let longestGap = 0
    const timer = setInterval(() => {
      ticks++
      const now = performance.now()
      longestGap = Math.max(longestGap, now - last)
      last = now
    }, 1)
    // A linger longer than the test: only the slice bound lets the event loop in.
    const server = new ChannelServer(channel, () => Promise.resolve({ errno: 0, length: 0 }), { lingerMs: 60_000 })
    try {
      const started = performance.now()
      await caller(channel, new Array<number>(200_000).fill(0))
      const elapsed = performance.now() - started
      // Timers fire between slices (a slice is 10 ms): at least one per 40 ms of serving.
      expect(ticks, `${ticks} timer ticks in ${elapsed.toFixed(0)} ms of calls, the longest gap ${longestGap.toFixed(0)} ms`)
        .toBeGreaterThan(elapsed / 40)
    } finally {
      clearInterval(timer)
      server.stop()
    }
  }, BUDGET_MS)
})
