// SPDX-License-Identifier: MIT
/**
 * streams.ts - waiting helpers the network tests share: everything a stream gives
 * until it ends, and a condition polled until it holds.
 *
 * Limits: until() polls every 50 ms for at most 5 s, then fails the test.
 */
import { expect } from 'vitest'

/** Resolves with everything read from stream until it ends. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Wait (at most 5 s) until condition holds. */
export async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100 && !(await condition()); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  expect(await condition()).toBe(true)
}
